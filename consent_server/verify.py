"""Offline verification of a consent-log export: hashes, Merkle roots, seal chain, signatures."""

from __future__ import annotations

import bisect
import hashlib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import orjson

from consent_server.keys import jwk_to_public_key
from consent_server.ledger import LEAF_SIZE, canonical, merkle_root, sha256_hex, unb64


@dataclass
class Problem:
    """One thing wrong with the export."""

    kind: str  # modified | removed | inserted | reordered | broken_seal | malformed
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
            "problems": [p.as_dict() for p in self.problems],
        }

    def summary(self) -> str:
        """A readable report."""
        lines = [
            f"{self.receipts} receipts ({self.purged} purged) under {self.seals} seals; "
            f"{len(self.unsealed)} not yet sealed."
        ]
        order = ("broken_seal", "modified", "removed", "inserted", "reordered", "malformed")
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
        lines.append("OK: the export is intact." if self.ok else "FAILED: the export was altered.")
        return "\n".join(lines)


@dataclass
class _Leaf:
    seal: int
    index: int
    receipt_id: str
    digest: bytes
    matched: bool = False


def _verify_seal_signature(doc: dict[str, Any], keys: dict[str, Any]) -> str | None:
    """None when the JWS is valid for its payload, else what is wrong."""
    try:
        header = jwt.get_unverified_header(doc["signature"])
    except jwt.PyJWTError as exc:
        return f"unreadable signature ({exc})"
    kid = header.get("kid")
    if kid not in keys:
        return f"signed with key {kid!r}, which is not among the trusted public keys"
    try:
        signed = jwt.decode(
            doc["signature"],
            keys[kid],
            algorithms=["EdDSA"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        return f"signature does not verify with key {kid} ({exc})"
    if canonical(signed) != canonical(doc["payload"]):
        return "seal content differs from what was signed"
    return None


def _check_seals(
    seal_docs: list[dict[str, Any]], keys: dict[str, Any], report: VerifyReport
) -> dict[int, list[_Leaf]]:
    """Check signatures, roots and the chain; return the leaves of the seals that hold."""
    trusted: dict[int, list[_Leaf]] = {}
    previous: dict[str, Any] | None = None
    for doc in sorted(seal_docs, key=lambda d: d.get("sequence", 0)):
        seq = doc.get("sequence")
        payload = doc.get("payload") or {}
        broken = []
        if payload.get("sequence") != seq:
            broken.append("sequence differs from the signed payload")
        problem = _verify_seal_signature(doc, keys)
        if problem:
            broken.append(problem)
        try:
            blob = unb64(doc.get("leaves", ""))
        except ValueError:
            blob = b"\x00"
        if len(blob) % LEAF_SIZE:
            broken.append("leaf list is damaged")
            blob = b""
        leaves = [
            _Leaf(seq, i // LEAF_SIZE, _uuid(blob[i : i + 16]), blob[i + 16 : i + LEAF_SIZE])
            for i in range(0, len(blob), LEAF_SIZE)
        ]
        if len(leaves) != payload.get("tree_size"):
            broken.append(f"has {len(leaves)} leaves, signed tree size {payload.get('tree_size')}")
        elif merkle_root(leaf.digest for leaf in leaves).hex() != payload.get("root"):
            broken.append("leaf list does not give the signed Merkle root")
        if previous is not None:
            if previous["sequence"] + 1 != seq:
                missing = range(previous["sequence"] + 1, seq or 0)
                for gap in missing:
                    report.problems.append(
                        Problem("broken_seal", f"seal {gap} is missing from the chain", seal=gap)
                    )
            elif payload.get("previous") != sha256_hex(canonical(previous["payload"])):
                broken.append(f"does not chain to seal {previous['sequence']}")
        if broken:
            report.problems.append(
                Problem("broken_seal", f"seal {seq}: " + "; ".join(broken), seal=seq)
            )
        else:
            trusted[seq] = leaves
        previous = doc
    report.seals = len(seal_docs)
    return trusted


def _uuid(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _longest_increasing(keys: list[tuple[int, int]]) -> set[int]:
    """Positions of one longest strictly increasing subsequence (patience sorting)."""
    tails: list[tuple[int, int]] = []
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


def verify_lines(
    lines: Iterable[bytes], seal_docs: list[dict[str, Any]], jwks: dict[str, Any]
) -> VerifyReport:
    """Verify receipts (JSONL lines) against seals and public keys."""
    report = VerifyReport()
    keys = {}
    for jwk in jwks.get("keys", []):
        try:
            keys[jwk["kid"]] = jwk_to_public_key(jwk)
        except (KeyError, ValueError):
            continue
    trusted = _check_seals(seal_docs, keys, report)
    by_hash: dict[bytes, _Leaf] = {}
    by_id: dict[str, _Leaf] = {}
    by_pos: dict[tuple[int, int], _Leaf] = {}
    for leaves in trusted.values():
        for leaf in leaves:
            by_hash[leaf.digest] = leaf
            by_id[leaf.receipt_id] = leaf
            by_pos[(leaf.seal, leaf.index)] = leaf
    known_seals = {doc.get("sequence") for doc in seal_docs}
    sha256 = hashlib.sha256
    loads = orjson.loads
    pending: list[tuple[int, str | None, bytes, Any, Any, str | None]] = []
    matched: list[tuple[int, str | None, _Leaf]] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        report.receipts += 1
        try:
            doc = loads(raw)
            record = doc["record"]
            stated = doc.get("record_hash")
            if record is None:
                report.purged += 1
                receipt_id = doc.get("receipt_id")
                digest = bytes.fromhex(stated)
            else:
                receipt_id = record.get("receipt_id")
                digest = sha256(canonical(record)).digest()
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            report.problems.append(
                Problem("malformed", f"line {number}: not a receipt", line=number)
            )
            continue
        leaf = by_hash.get(digest)
        if leaf is not None and not leaf.matched:
            leaf.matched = True
            matched.append((number, receipt_id, leaf))
        else:
            pending.append((number, receipt_id, digest, doc.get("seal"), doc.get("leaf"), stated))
    # Second pass, once every intact receipt has claimed its leaf: what is left was altered.
    for number, receipt_id, digest, seal, leaf_no, stated in pending:
        leaf = by_id.get(receipt_id) if receipt_id else None
        if leaf is None or leaf.matched:
            leaf = by_pos.get((seal, leaf_no)) if isinstance(seal, int) else None
        if leaf is not None and not leaf.matched:
            leaf.matched = True
            matched.append((number, receipt_id, leaf))
            how = (
                "its stored hash was changed too"
                if stated == digest.hex()
                else "content no longer matches its hash"
            )
            report.problems.append(
                Problem(
                    "modified",
                    f"line {number}: receipt {leaf.receipt_id} (seal {leaf.seal}, leaf "
                    f"{leaf.index}) was modified: {how}",
                    line=number,
                    receipt_id=leaf.receipt_id,
                    seal=leaf.seal,
                    leaf=leaf.index,
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
        elif isinstance(seal, int) and seal not in trusted:
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
    for leaves in trusted.values():
        for leaf in leaves:
            if not leaf.matched:
                report.problems.append(
                    Problem(
                        "removed",
                        f"receipt {leaf.receipt_id} (seal {leaf.seal}, leaf {leaf.index}) was removed",
                        receipt_id=leaf.receipt_id,
                        seal=leaf.seal,
                        leaf=leaf.index,
                    )
                )
    matched.sort(key=lambda m: m[0])
    positions = [(m[2].seal, m[2].index) for m in matched]
    in_order = _longest_increasing(positions)
    for i, (number, _rid, leaf) in enumerate(matched):
        if i not in in_order:
            report.problems.append(
                Problem(
                    "reordered",
                    f"line {number}: receipt {leaf.receipt_id} (seal {leaf.seal}, leaf "
                    f"{leaf.index}) is out of order",
                    line=number,
                    receipt_id=leaf.receipt_id,
                    seal=leaf.seal,
                    leaf=leaf.index,
                )
            )
    return report


def _read_lines(data: bytes) -> Iterator[bytes]:
    return iter(data.splitlines())


def _load_jsonl(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def verify_path(
    path: str | Path,
    *,
    seals: str | Path | None = None,
    jwks: str | Path | None = None,
) -> VerifyReport:
    """Verify a bundle (.zip) or a JSONL export with its seals; `jwks` pins trusted keys."""
    path = Path(path)
    trusted_keys = orjson.loads(Path(jwks).read_bytes()) if jwks else None
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            seal_docs = _load_jsonl(zf.read("seals.jsonl")) if "seals.jsonl" in names else []
            keys = trusted_keys or (
                orjson.loads(zf.read("jwks.json")) if "jwks.json" in names else {"keys": []}
            )
            with zf.open("receipts.jsonl") as fh:
                return verify_lines(fh, seal_docs, keys)
    if seals is None:
        raise ValueError("a JSONL export needs --seals FILE (or use a bundle .zip)")
    if trusted_keys is None:
        raise ValueError("a JSONL export needs --jwks FILE (or use a bundle .zip)")
    seal_docs = _load_jsonl(Path(seals).read_bytes())
    with path.open("rb") as fh:
        return verify_lines(fh, seal_docs, trusted_keys)
