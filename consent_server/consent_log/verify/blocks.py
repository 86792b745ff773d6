"""Hashing an export in blocks, in worker processes when it is large."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import IO, Any

import orjson

from consent_server.consent_log.merkle import (
    HASH_SIZE,
    canonical,
)
from consent_server.consent_log.verify.report import Problem, VerifyReport
from consent_server.consent_log.verify.seals import _check_seals, _trusted_keys


def _uuid(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# What each line of a block is, one byte per line in the block's result.
_HASHED = 0  # its record hash is the next 32 bytes of the block's hashes
_BLANK = 1
_MALFORMED = 2
_ODD_HASH = 3  # a purged receipt whose stated hash is no SHA-256 digest: it matches no leaf
_PARSE_ERRORS = (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError)
# Below this size an export is checked in this process: starting workers would cost more.
PARALLEL_MIN_BYTES = 16 << 20
# More workers than this wait for the main process, which inflates and matches for all of them.
MAX_DEFAULT_JOBS = 4
BLOCK_SIZE = 1 << 20
# A few blocks ahead per worker keep it busy; more would only hold memory.
BLOCKS_AHEAD = 3

_Details = tuple[str | None, bytes, Any, Any, Any]  # receipt id, hash, seal, leaf, stated hash
# kinds (a byte per line), hashes (32 bytes per hashed line), details by line index, purged
_BlockResult = tuple[bytes, bytes, dict[int, _Details], int]
_SealsResult = tuple[dict[int, tuple[bytes, list[bytes] | None]], list[Problem], int]


def _parse_receipt(raw: bytes) -> tuple[_Details, bool]:
    """The details of a line and whether it is a purged receipt; raises if it is no receipt."""
    doc = orjson.loads(raw)
    record = doc["record"]
    stated = doc.get("record_hash")
    if record is None:
        receipt_id = doc.get("receipt_id")
        digest = bytes.fromhex(stated)
    else:
        receipt_id = record.get("receipt_id")
        digest = hashlib.sha256(canonical(record)).digest()
    receipt_id = receipt_id if isinstance(receipt_id, str) else None
    return (receipt_id, digest, doc.get("seal"), doc.get("leaf"), stated), record is None


def _hash_block(block: bytes) -> _BlockResult:
    """Parse and hash the receipts of a block of whole lines (no seal needed: runs anywhere).

    The details of a line are only kept where the line itself says it is not sealed, so that
    an export's unsealed tail needs no second reading; a line that matches no leaf although it
    names a seal is read again later (it was altered).
    """
    kinds = bytearray()
    hashes = bytearray()
    details: dict[int, _Details] = {}
    purged = 0
    for index, raw in enumerate(block.split(b"\n")):
        if not raw or raw.isspace():  # as `not raw.strip()`, without copying every line
            kinds.append(_BLANK)
            continue
        try:
            line, was_purged = _parse_receipt(raw)
        except _PARSE_ERRORS:
            kinds.append(_MALFORMED)
            continue
        purged += was_purged
        digest, seal = line[1], line[2]
        if len(digest) != HASH_SIZE:
            kinds.append(_ODD_HASH)
            details[index] = line
            continue
        kinds.append(_HASHED)
        hashes += digest
        if seal is None:
            details[index] = line
    return bytes(kinds), bytes(hashes), details, purged


def _check_seals_apart(seal_docs: list[dict[str, Any]], jwks: Any) -> _SealsResult:
    """_check_seals as a job of its own: (leaf lists of the seals that hold, problems, seals)."""
    report = VerifyReport()
    trusted = _check_seals(seal_docs, _trusted_keys(jwks), report)
    # The record hashes are cheaper to cut from the leaf list again than to send back.
    return {seq: (blob, None) for seq, (blob, _) in trusted.items()}, report.problems, report.seals


def _blocks(fh: IO[bytes], block_size: int) -> Iterator[bytes]:
    """A stream in blocks of whole lines, each without its last b"\\n".

    Splitting megabyte blocks is several times faster than reading line by line (for a zip
    member, zipfile's readline runs in Python for every line). Split at b"\\n", the blocks give
    exactly the lines that iterating the stream gives, without their line ends.
    """
    rest = b""
    while piece := fh.read(block_size):
        if rest:
            piece = rest + piece
        cut = piece.rfind(b"\n")
        if cut < 0:  # one line longer than a block
            rest = piece
            continue
        yield piece[:cut]
        rest = piece[cut + 1 :]
    if rest:
        yield rest


def choose_jobs(jobs: int | None, size: int) -> int:
    """Worker processes for an export of `size` bytes: `jobs`, or one per core when None."""
    if jobs is None:
        jobs = min(os.cpu_count() or 1, MAX_DEFAULT_JOBS) if size >= PARALLEL_MIN_BYTES else 1
    return max(jobs, 1)


def _pool(jobs: int) -> ProcessPoolExecutor:
    """Worker processes: forked where that is safe (no other thread here), started afresh elsewhere."""
    fork = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    return ProcessPoolExecutor(
        jobs, mp_context=multiprocessing.get_context("fork" if fork else "spawn")
    )
