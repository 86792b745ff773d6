"""Matching receipts to sealed leaves and judging what was changed."""

from __future__ import annotations

import bisect
import collections
import contextlib
from array import array
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import IO, Any

from consent_server.consent_log.merkle import (
    HASH_SIZE,
    LEAF_SIZE,
)
from consent_server.consent_log.verify.blocks import (
    _BLANK,
    _HASHED,
    _MALFORMED,
    _ODD_HASH,
    BLOCK_SIZE,
    BLOCKS_AHEAD,
    _BlockResult,
    _blocks,
    _check_seals_apart,
    _Details,
    _hash_block,
    _parse_receipt,
    _pool,
    _SealsResult,
    _uuid,
)
from consent_server.consent_log.verify.report import Problem, VerifyReport
from consent_server.consent_log.verify.seals import _check_seals, _leaf_hashes, _trusted_keys


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
    jwks: Any,
    *,
    jobs: int = 1,
    block_size: int = BLOCK_SIZE,
    keys_from: str = "pinned",
) -> VerifyReport:
    """Verify receipts (JSONL, from a stream `open_stream` opens) against seals and public keys.

    With `jobs` above 1, worker processes check the seals and hash the receipts while this
    process reads the stream. The stream is read a second time only when some line that
    names a seal matches no leaf as it is (an altered export). `keys_from` says whose keys
    `jwks` are: "pinned" (the auditor's) or "bundle" (the ones the export came with).
    """
    report = VerifyReport(keys=keys_from, key_ids=[str(kid) for kid in _trusted_keys(jwks)])
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
