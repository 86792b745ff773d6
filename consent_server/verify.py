"""Offline verification of a consent-log export: hashes, Merkle roots, seal chain, signatures."""

from __future__ import annotations

import bisect
import collections
import contextlib
import functools
import gc
import hashlib
import multiprocessing
import os
import threading
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import jwt
import orjson

from consent_server.keys import jwk_to_public_key
from consent_server.ledger import HASH_SIZE, LEAF_SIZE, canonical, merkle_root, sha256_hex, unb64


@dataclass
class Problem:
    """One thing wrong with the export."""

    # modified | removed | inserted | reordered | broken_seal | broken_manifest | malformed
    kind: str
    message: str
    line: int | None = None
    receipt_id: str | None = None
    seal: int | None = None
    leaf: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class VerifyReport:
    """The outcome of a verification."""

    receipts: int = 0
    purged: int = 0
    seals: int = 0
    unsealed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    bundle: bool = False
    # The kid of the key that signed a bundle's manifest; None when it is not signed (a JSONL
    # export, a bundle of format 1) or its signature does not hold.
    manifest_kid: str | None = None
    exported_at: str | None = None  # from a bundle's manifest
    workers: int = 0  # worker processes that did the work (0: this process alone)

    @property
    def ok(self) -> bool:
        """True when nothing was modified, removed, inserted, reordered or broken."""
        return not self.problems

    def by_kind(self, kind: str) -> list[Problem]:
        """The problems of one kind."""
        return [p for p in self.problems if p.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "receipts": self.receipts,
            "purged": self.purged,
            "seals": self.seals,
            "unsealed": self.unsealed,
            "manifest_signed_by": self.manifest_kid if self.bundle else None,
            "exported_at": self.exported_at,
            "problems": [p.as_dict() for p in self.problems],
        }

    def summary(self) -> str:
        """A readable report."""
        lines = [
            f"{self.receipts} receipts ({self.purged} purged) under {self.seals} seals; "
            f"{len(self.unsealed)} not yet sealed."
        ]
        order = (
            "broken_seal",
            "broken_manifest",
            "modified",
            "removed",
            "inserted",
            "reordered",
            "malformed",
        )
        for kind in order:
            found = self.by_kind(kind)
            if found:
                lines.append(f"{kind.replace('_', ' ').upper()}: {len(found)}")
                lines.extend(f"  - {p.message}" for p in found)
        if self.unsealed:
            lines.append(
                "Not yet sealed (cannot be proven; seal the log and export again): "
                + ", ".join(self.unsealed[:20])
                + (" ..." if len(self.unsealed) > 20 else "")
            )
        if self.manifest_kid:
            lines.append(
                f"The manifest is signed (key {self.manifest_kid}, exported {self.exported_at}): "
                "the export was checked against its seal range and counts."
            )
        elif self.bundle and not self.by_kind("broken_manifest"):
            lines.append(
                "The manifest is not signed: compare the last seal with the latest one the "
                "server publishes to be sure nothing was cut off the end."
            )
        if not self.ok:
            lines.append("FAILED: the export was altered.")
        elif self.unsealed:
            # Not "intact": nothing proves the unsealed lines, a forged one included.
            lines.append(
                f"OK: every sealed receipt is intact; {len(self.unsealed)} not yet sealed "
                "cannot be proven."
            )
        else:
            lines.append("OK: the export is intact.")
        return "\n".join(lines)


class _Leaves:
    """The leaves of the seals that hold, numbered across them in (seal, index) order.

    A leaf is known by its number (ordinal) alone: a million leaf objects cost more than
    checking the receipts they stand for.
    """

    def __init__(self, trusted: Mapping[int, tuple[bytes, list[bytes] | None]]) -> None:
        self.seals: list[int] = []
        self.bases: list[int] = []
        self.blobs: list[bytes] = []
        self.lookup: dict[bytes, int] = {}  # record hash -> ordinal
        self.count = 0
        for seq in sorted(trusted):
            blob, digests = trusted[seq]
            if digests is None:
                digests = _leaf_hashes(blob)
            self.seals.append(seq)
            self.bases.append(self.count)
            self.blobs.append(blob)
            self.lookup.update(
                zip(digests, range(self.count, self.count + len(digests)), strict=True)
            )
            self.count += len(digests)

    def locate(self, ordinal: int) -> tuple[int, int, str]:
        """(seal, index in the seal, receipt id) of a leaf."""
        k = bisect.bisect_right(self.bases, ordinal) - 1
        index = ordinal - self.bases[k]
        start = index * LEAF_SIZE
        return self.seals[k], index, _uuid(self.blobs[k][start : start + 16])

    def indexes(self) -> tuple[dict[str, int], dict[tuple[int, int], int]]:
        """Every leaf by receipt id and by (seal, index)."""
        by_id: dict[str, int] = {}
        by_pos: dict[tuple[int, int], int] = {}
        for seq, base, blob in zip(self.seals, self.bases, self.blobs, strict=True):
            for index, start in enumerate(range(0, len(blob), LEAF_SIZE)):
                by_id[_uuid(blob[start : start + 16])] = base + index
                by_pos[(seq, index)] = base + index
        return by_id, by_pos


def _trusted_keys(jwks: Any) -> dict[str, Any]:
    """kid -> public key of every usable Ed25519 key of a JWKS document."""
    keys = {}
    listed = jwks.get("keys") if isinstance(jwks, dict) else None
    for jwk in listed if isinstance(listed, list) else []:
        try:
            keys[jwk["kid"]] = jwk_to_public_key(jwk)
        except (KeyError, ValueError, TypeError, AttributeError):  # not a usable key object
            continue
    return keys


def _read_signature(token: Any, keys: dict[str, Any]) -> tuple[Any, str | None, str | None]:
    """(what was signed, the kid, what is wrong or None) of a compact JWS by a trusted key."""
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, TypeError) as exc:
        return None, None, f"unreadable signature ({exc})"
    kid = header.get("kid")
    if kid not in keys:
        return None, kid, f"signed with key {kid!r}, which is not among the trusted public keys"
    try:
        signed = jwt.decode(
            token,
            keys[kid],
            algorithms=["EdDSA"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        return None, kid, f"signature does not verify with key {kid} ({exc})"
    return signed, kid, None


def _read_seal_signature(
    doc: dict[str, Any], keys: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """(what was signed, if a trusted key signed it; what is wrong, or None)."""
    if "signature" not in doc:
        return None, "unreadable signature (none)"
    signed, _, error = _read_signature(doc["signature"], keys)
    if error is None and canonical(signed) != canonical(doc.get("payload")):
        return signed, "seal content differs from what was signed"
    return signed, error


def _check_seals(
    seal_docs: list[dict[str, Any]], keys: dict[str, Any], report: VerifyReport
) -> dict[int, tuple[bytes, list[bytes]]]:
    """Check signatures, roots and the chain; the leaf lists and record hashes of those that hold."""
    trusted: dict[int, tuple[bytes, list[bytes]]] = {}
    previous: dict[str, Any] | None = None
    previous_hash: str | None = None
    site: Any = None
    seen: set[Any] = set()
    for doc in sorted(seal_docs, key=lambda d: d.get("sequence", 0)):
        seq = doc.get("sequence")
        payload = doc.get("payload") or {}
        broken = []
        if not isinstance(payload, dict):
            broken.append("its payload is not an object")
            payload = {}
        # One server key signs the seals of every site: a validly signed seal of another site,
        # or a second seal of the same number, must not stand in for one of this log's seals.
        if site is None:
            site = payload.get("site")
        elif payload.get("site") != site:
            broken.append(f"belongs to site {payload.get('site')!r}, not {site!r}")
        duplicate = seq in seen
        if duplicate:
            broken.append(f"is a second seal {seq}")
        seen.add(seq)
        if payload.get("sequence") != seq:
            broken.append("sequence differs from the signed payload")
        signed, problem = _read_seal_signature(doc, keys)
        if problem:
            broken.append(problem)
        if seq == 1 and payload.get("previous") is not None:
            broken.append("the first seal names a previous seal")
        try:
            blob = unb64(doc.get("leaves", ""))
        except (ValueError, AttributeError):  # not base64, or not text at all
            blob = b"\x00"
        if len(blob) % LEAF_SIZE:
            broken.append("leaf list is damaged")
            blob = b""
        digests = _leaf_hashes(blob)
        if len(digests) != payload.get("tree_size"):
            broken.append(f"has {len(digests)} leaves, signed tree size {payload.get('tree_size')}")
        elif merkle_root(digests).hex() != payload.get("root"):
            broken.append("leaf list does not give the signed Merkle root")
        if previous is not None and not duplicate:
            if previous["sequence"] + 1 != seq:
                report.problems.extend(
                    _missing_seals(previous["sequence"] + 1, seq - 1, "from the chain")
                )
            elif payload.get("previous") != previous_hash:
                broken.append(f"does not chain to seal {previous['sequence']}")
        if broken:
            report.problems.append(
                Problem("broken_seal", f"seal {seq}: " + "; ".join(broken), seal=seq)
            )
        else:
            trusted[seq] = (blob, digests)
        if duplicate:
            continue  # the chain goes on from the first seal of that number
        previous = doc
        # The next seal chains to what this one's key signed: a seal whose shown content was
        # altered is reported itself, without making the intact seal after it look broken too.
        previous_hash = sha256_hex(canonical(signed if signed is not None else payload))
    report.seals = len(seal_docs)
    return trusted


# A longer run of missing seals is one problem: a forged sequence number must not fill memory.
MAX_GAP_LISTED = 1000


def _missing_seals(
    first: int, last: int, where: str, present: AbstractSet[Any] = frozenset()
) -> list[Problem]:
    """broken_seal problems for the seals first..last that are not `present`."""
    if last - first + 1 > MAX_GAP_LISTED:
        return [Problem("broken_seal", f"seals {first} to {last} are missing {where}", seal=first)]
    return [
        Problem("broken_seal", f"seal {sequence} is missing {where}", seal=sequence)
        for sequence in range(first, last + 1)
        if sequence not in present
    ]


def _leaf_hashes(blob: bytes) -> list[bytes]:
    """The record hashes of a seal's leaf list, in leaf order."""
    return [blob[i + 16 : i + LEAF_SIZE] for i in range(0, len(blob), LEAF_SIZE)]


def _uuid(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _longest_increasing(keys: Sequence[int]) -> set[int]:
    """Positions of one longest increasing subsequence of distinct keys (patience sorting)."""
    if list(keys) == sorted(keys):
        return set(range(len(keys)))  # already in order, as in every intact export
    tails: list[int] = []
    tail_pos: list[int] = []
    parent = [-1] * len(keys)
    for i, key in enumerate(keys):
        j = bisect.bisect_left(tails, key)
        if j == len(tails):
            tails.append(key)
            tail_pos.append(i)
        else:
            tails[j] = key
            tail_pos[j] = i
        parent[i] = tail_pos[j - 1] if j else -1
    keep = set()
    i = tail_pos[-1] if tail_pos else -1
    while i >= 0:
        keep.add(i)
        i = parent[i]
    return keep


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


def _check_seals_apart(seal_docs: list[dict[str, Any]], jwks: dict[str, Any]) -> _SealsResult:
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


class _Tally:
    """What the lines of an export add up to, block after block, once the leaves are known."""

    def __init__(self, report: VerifyReport, leaves: _Leaves) -> None:
        self.report = report
        self.leaves = leaves
        self.matched = bytearray(leaves.count)
        # The lines that matched a leaf and the leaf each matched, in line order.
        self.claimed_lines = array("q")
        self.claimed_leaves = array("q")
        self.pending: list[tuple[int, *_Details]] = []  # lines that match no leaf as they are
        self.again: set[int] = set()  # such lines whose details were not kept: read them again
        self.lines = 0

    def add(self, result: _BlockResult) -> None:
        """Match the lines of one block with their leaves."""
        kinds, hashes, details, purged = result
        report, lookup, matched = self.report, self.leaves.lookup, self.matched
        report.purged += purged
        report.receipts += len(kinds) - kinds.count(_BLANK)
        first = self.lines + 1
        size = len(kinds)
        if size and kinds.count(_HASHED) == size:
            # Nearly every block of an intact export: its lines are the next leaves, in order.
            found = list(
                map(
                    lookup.get,
                    [hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE)],
                )
            )
            start = found[0]
            if (
                start is not None
                and found == list(range(start, start + size))
                and matched.find(1, start, start + size) < 0
            ):
                matched[start : start + size] = b"\x01" * size
                self.claimed_lines.extend(range(first, first + size))
                self.claimed_leaves.extend(found)
                self.lines += size
                return
        at = 0
        for index, kind in enumerate(kinds):
            if kind == _HASHED:
                ordinal = lookup.get(hashes[at : at + HASH_SIZE])
                at += HASH_SIZE
                if ordinal is not None and not matched[ordinal]:
                    matched[ordinal] = 1
                    self.claimed_lines.append(first + index)
                    self.claimed_leaves.append(ordinal)
                elif index in details:
                    self.pending.append((first + index, *details[index]))
                else:
                    self.again.add(first + index)
            elif kind == _MALFORMED:
                number = first + index
                report.problems.append(
                    Problem("malformed", f"line {number}: not a receipt", line=number)
                )
            elif kind == _ODD_HASH:
                self.pending.append((first + index, *details[index]))
        self.lines += len(kinds)


def verify_stream(
    open_stream: Callable[[], AbstractContextManager[IO[bytes]]],
    seal_docs: list[dict[str, Any]],
    jwks: dict[str, Any],
    *,
    jobs: int = 1,
    block_size: int = BLOCK_SIZE,
) -> VerifyReport:
    """Verify receipts (JSONL, from a stream `open_stream` opens) against seals and public keys.

    With `jobs` above 1, worker processes check the seals and hash the receipts while this
    process reads the stream. The stream is read a second time only when some line that
    names a seal matches no leaf as it is (an altered export).
    """
    report = VerifyReport()
    # A seal line that is no seal at all is reported, not allowed to stop the audit.
    seals_ok = [d for d in seal_docs if isinstance(d, dict) and isinstance(d.get("sequence"), int)]
    for _ in range(len(seal_docs) - len(seals_ok)):
        report.problems.append(Problem("malformed", "a line of the seals file is not a seal"))
    seal_docs = seals_ok
    tally: _Tally | None = None

    def start_tally(seals: _SealsResult) -> _Tally:
        trusted, problems, report.seals = seals
        report.problems.extend(problems)
        return _Tally(report, _Leaves(trusted))

    with contextlib.ExitStack() as stack:
        if jobs > 1:
            report.workers = jobs
            pool = stack.enter_context(_pool(jobs))
            seals_job = pool.submit(_check_seals_apart, seal_docs, jwks)
        else:
            trusted = _check_seals(seal_docs, _trusted_keys(jwks), report)
            tally = _Tally(report, _Leaves(trusted))
        fh = stack.enter_context(open_stream())
        if tally is not None:
            for block in _blocks(fh, block_size):
                tally.add(_hash_block(block))
        else:
            in_flight: collections.deque[Future[_BlockResult]] = collections.deque()
            done: collections.deque[_BlockResult] = collections.deque()
            for block in _blocks(fh, block_size):
                in_flight.append(pool.submit(_hash_block, block))
                if len(in_flight) >= BLOCKS_AHEAD * jobs:
                    done.append(in_flight.popleft().result())
                if tally is None and seals_job.done():
                    tally = start_tally(seals_job.result())
                while tally is not None and done:
                    tally.add(done.popleft())
            done.extend(future.result() for future in in_flight)
            tally = tally or start_tally(seals_job.result())
            while done:
                tally.add(done.popleft())
    _read_again(open_stream, tally, block_size)
    return _judge(report, tally, {doc.get("sequence") for doc in seal_docs})


def _read_again(
    open_stream: Callable[[], AbstractContextManager[IO[bytes]]], tally: _Tally, block_size: int
) -> None:
    """The details of the lines that were not kept the first time (altered lines only)."""
    if not tally.again:
        return
    with open_stream() as fh:
        number = 0
        for block in _blocks(fh, block_size):
            for raw in block.split(b"\n"):
                number += 1
                if number in tally.again:
                    tally.pending.append((number, *_parse_receipt(raw)[0]))
    tally.pending.sort(key=lambda p: p[0])


def _judge(report: VerifyReport, tally: _Tally, known_seals: set[Any]) -> VerifyReport:
    """Name what is wrong: lines that match no leaf, leaves no line matched, lines out of order."""
    leaves, matched = tally.leaves, tally.matched
    late: list[tuple[int, int]] = []  # (line, leaf) of the modified lines
    # Once every intact receipt has claimed its leaf, what is left was altered. The indexes
    # are only built when some line needs them (never for an intact export).
    by_id, by_pos = leaves.indexes() if tally.pending else ({}, {})
    for number, receipt_id, digest, seal, leaf_no, stated in tally.pending:
        ordinal = by_id.get(receipt_id) if receipt_id else None
        if ordinal is None or matched[ordinal]:
            position = (
                (seal, leaf_no) if isinstance(seal, int) and isinstance(leaf_no, int) else None
            )
            ordinal = by_pos.get(position) if position else None
        if ordinal is not None and not matched[ordinal]:
            matched[ordinal] = 1
            late.append((number, ordinal))
            leaf_seal, leaf_index, leaf_id = leaves.locate(ordinal)
            how = (
                "its stored hash was changed too"
                if stated == digest.hex()
                else "content no longer matches its hash"
            )
            report.problems.append(
                Problem(
                    "modified",
                    f"line {number}: receipt {leaf_id} (seal {leaf_seal}, leaf {leaf_index}) "
                    f"was modified: {how}",
                    line=number,
                    receipt_id=leaf_id,
                    seal=leaf_seal,
                    leaf=leaf_index,
                )
            )
        elif receipt_id and receipt_id in by_id:
            # Its id is already proven by another line: a second copy, whatever seal it claims
            # (one claiming none would otherwise pass as a receipt not yet sealed).
            report.problems.append(
                Problem(
                    "inserted",
                    f"line {number}: receipt {receipt_id} is a second copy of a sealed receipt "
                    "(inserted)",
                    line=number,
                    receipt_id=receipt_id,
                )
            )
        elif seal is None and receipt_id:
            report.unsealed.append(receipt_id)
        elif isinstance(seal, int) and seal not in known_seals:
            report.problems.append(
                Problem(
                    "broken_seal",
                    f"line {number}: receipt {receipt_id} names seal {seal}, which is missing",
                    line=number,
                    receipt_id=receipt_id,
                    seal=seal,
                )
            )
        elif isinstance(seal, int) and seal not in leaves.seals:
            pass  # Its seal is already reported broken; the receipt cannot be judged.
        else:
            report.problems.append(
                Problem(
                    "inserted",
                    f"line {number}: receipt {receipt_id} is in no seal (inserted)",
                    line=number,
                    receipt_id=receipt_id,
                )
            )
    ordinal = matched.find(0)
    while ordinal >= 0:
        leaf_seal, leaf_index, leaf_id = leaves.locate(ordinal)
        report.problems.append(
            Problem(
                "removed",
                f"receipt {leaf_id} (seal {leaf_seal}, leaf {leaf_index}) was removed",
                receipt_id=leaf_id,
                seal=leaf_seal,
                leaf=leaf_index,
            )
        )
        ordinal = matched.find(0, ordinal + 1)
    numbers: Sequence[int] = tally.claimed_lines
    ordinals: Sequence[int] = tally.claimed_leaves
    if late:  # the modified lines take their place among the others
        pairs = sorted([*zip(numbers, ordinals, strict=True), *late])
        numbers = [number for number, _ in pairs]
        ordinals = [ordinal for _, ordinal in pairs]
    in_order = _longest_increasing(ordinals)
    for i, ordinal in enumerate(ordinals if len(in_order) < len(ordinals) else ()):
        if i not in in_order:
            number = numbers[i]
            leaf_seal, leaf_index, leaf_id = leaves.locate(ordinal)
            report.problems.append(
                Problem(
                    "reordered",
                    f"line {number}: receipt {leaf_id} (seal {leaf_seal}, leaf {leaf_index}) "
                    "is out of order",
                    line=number,
                    receipt_id=leaf_id,
                    seal=leaf_seal,
                    leaf=leaf_index,
                )
            )
    return report


def _load_jsonl(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def _check_manifest_signature(
    manifest: dict[str, Any], token: bytes | None, jwks: Any, report: VerifyReport
) -> None:
    """Check manifest.jws: the server's signature over the manifest (bundle format 2 on)."""
    if token is None:
        fmt = str(manifest.get("format", ""))
        if fmt.rpartition("/")[2] not in ("", "1"):
            report.problems.append(
                Problem("broken_manifest", "manifest.jws is missing: the manifest is not signed")
            )
        return
    signed, kid, error = _read_signature(
        token.decode("ascii", "replace").strip(), _trusted_keys(jwks)
    )
    if error is None and canonical(signed) != canonical(manifest):
        error = "manifest.json differs from what the server signed"
    if error is not None:
        report.problems.append(Problem("broken_manifest", f"manifest: {error}"))
    else:
        report.manifest_kid = kid


def _check_manifest(manifest: Any, seal_docs: list[dict[str, Any]], report: VerifyReport) -> None:
    """Compare a bundle with what its exporter wrote down, to catch seals and receipts cut off
    the end, which no seal can show; the manifest's signature is what makes this a proof."""
    if not isinstance(manifest, dict):
        report.problems.append(Problem("malformed", "manifest.json is not a JSON object"))
        return
    exported_at = manifest.get("exported_at")
    report.exported_at = exported_at if isinstance(exported_at, str) else None
    # Only text can name a site; other values in a seal or manifest are reported elsewhere.
    sites = {
        doc["payload"].get("site")
        for doc in seal_docs
        if isinstance(doc, dict)
        and isinstance(doc.get("payload"), dict)
        and isinstance(doc["payload"].get("site"), str)
    }
    if isinstance(manifest.get("site"), str) and sites and manifest["site"] not in sites:
        report.problems.append(
            Problem(
                "broken_manifest",
                f"the manifest is of site {manifest.get('site')!r}, the seals are not",
            )
        )
    present = {
        doc["sequence"]
        for doc in seal_docs
        if isinstance(doc, dict) and isinstance(doc.get("sequence"), int)
    }
    named = {p.seal for p in report.problems if p.kind == "broken_seal" and p.receipt_id is None}
    first, last = manifest.get("first_seal"), manifest.get("last_seal")
    if isinstance(first, int) and isinstance(last, int):
        report.problems.extend(
            _missing_seals(
                first, last, f"(the manifest lists seals {first} to {last})", present | named
            )
        )
    counts = manifest.get("counts")
    expected = counts.get("receipts") if isinstance(counts, dict) else None
    explained = any(p.kind in ("removed", "inserted") for p in report.problems)
    if isinstance(expected, int) and expected != report.receipts and not explained:
        kind = "removed" if report.receipts < expected else "inserted"
        report.problems.append(
            Problem(
                kind,
                f"receipts.jsonl has {report.receipts} receipts, the manifest lists {expected}",
            )
        )


def _without_cycle_collector(func: Callable[..., VerifyReport]) -> Callable[..., VerifyReport]:
    """Run with the cycle collector paused (and restored after, as it was).

    A verification keeps a few objects per receipt alive until it ends, and they form no
    cycles; the collector would walk all of them again and again (a fifth of the time for a
    million receipts) without ever freeing one. Reference counting still frees the rest.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> VerifyReport:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper


def _verify_bundle(
    path: Path, trusted_keys: dict[str, Any] | None, jobs: int | None, block_size: int
) -> VerifyReport:
    """Verify an audit bundle (.zip): receipts, seals, keys and the signed manifest."""
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        seal_docs = _load_jsonl(zf.read("seals.jsonl")) if "seals.jsonl" in names else []
        keys = trusted_keys or (
            orjson.loads(zf.read("jwks.json")) if "jwks.json" in names else {"keys": []}
        )
        size = zf.getinfo("receipts.jsonl").file_size
        report = verify_stream(
            lambda: zf.open("receipts.jsonl"),
            seal_docs,
            keys,
            jobs=choose_jobs(jobs, size),
            block_size=block_size,
        )
        report.bundle = True
        if "manifest.json" in names:
            try:
                manifest = orjson.loads(zf.read("manifest.json"))
            except orjson.JSONDecodeError:
                manifest = None
            if isinstance(manifest, dict):
                token = zf.read("manifest.jws") if "manifest.jws" in names else None
                _check_manifest_signature(manifest, token, keys, report)
            _check_manifest(manifest, seal_docs, report)
        else:
            report.problems.append(Problem("broken_manifest", "manifest.json is missing"))
        return report


@_without_cycle_collector
def verify_path(
    path: str | Path,
    *,
    seals: str | Path | None = None,
    jwks: str | Path | None = None,
    jobs: int | None = None,
    block_size: int = BLOCK_SIZE,
) -> VerifyReport:
    """Verify a bundle (.zip) or a JSONL export with its seals; `jwks` pins trusted keys.

    `jobs`: worker processes (None: one per core for a large export, 1: none); `block_size`:
    bytes of receipts read, and handed to a worker, at a time.
    """
    path = Path(path)
    trusted_keys = orjson.loads(Path(jwks).read_bytes()) if jwks else None
    if zipfile.is_zipfile(path):
        try:
            return _verify_bundle(path, trusted_keys, jobs, block_size)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise ValueError(f"the bundle is damaged ({exc})") from exc
    if seals is None:
        raise ValueError("a JSONL export needs --seals FILE (or use a bundle .zip)")
    if trusted_keys is None:
        raise ValueError("a JSONL export needs --jwks FILE (or use a bundle .zip)")
    seal_docs = _load_jsonl(Path(seals).read_bytes())
    jobs = choose_jobs(jobs, path.stat().st_size)
    return verify_stream(
        lambda: path.open("rb"), seal_docs, trusted_keys, jobs=jobs, block_size=block_size
    )
