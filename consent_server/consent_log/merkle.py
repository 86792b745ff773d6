"""Hashing and Merkle trees of the consent log (RFC 6962), free of Flask so audits run offline."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

import orjson

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
# One leaf in a seal's leaf list: the receipt's UUID (16 bytes) and its record hash (32 bytes).
LEAF_SIZE = 48
HASH_SIZE = 32  # a SHA-256 digest
SEAL_TYPE = "consent-log-seal"
SEAL_VERSION = 1


def canonical(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8; the bytes every hash is taken over."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def sha256_hex(data: bytes) -> str:
    """SHA-256 hex digest."""
    return hashlib.sha256(data).hexdigest()


def merkle_root(record_hashes: Iterable[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash over record hashes (each leaf is H(0x00 || record_hash))."""
    sha = hashlib.sha256
    level = [sha(LEAF_PREFIX + h).digest() for h in record_hashes]
    if not level:
        return sha(b"").digest()
    # Pairing left to right and carrying an odd last node up unchanged gives exactly the
    # RFC 6962 tree (split at the largest power of two below n) without recursion.
    while len(level) > 1:
        nxt = [
            sha(NODE_PREFIX + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def pack_leaves(leaves: Iterable[tuple[str, str]]) -> bytes:
    """Pack (receipt_id, record_hash hex) pairs into the binary leaf list of a seal."""
    return b"".join(uuid.UUID(rid).bytes + bytes.fromhex(h) for rid, h in leaves)


def unpack_leaves(blob: bytes) -> list[tuple[str, bytes]]:
    """Unpack a seal's leaf list into (receipt_id, record_hash bytes) pairs."""
    if len(blob) % LEAF_SIZE:
        raise ValueError("leaf list length is not a multiple of 48 bytes")
    return [
        (str(uuid.UUID(bytes=blob[i : i + 16])), blob[i + 16 : i + LEAF_SIZE])
        for i in range(0, len(blob), LEAF_SIZE)
    ]


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Decode standard base64 text."""
    return base64.b64decode(text.encode("ascii"), validate=True)


def seal_payload(
    *,
    site: str,
    sequence: int,
    tree_size: int,
    root: str,
    previous: str | None,
    sealed_at: str,
    first_recorded_at: str,
    last_recorded_at: str,
) -> dict[str, Any]:
    """The signed content of a seal."""
    return {
        "type": SEAL_TYPE,
        "version": SEAL_VERSION,
        "site": site,
        "sequence": sequence,
        "tree_size": tree_size,
        "root": root,
        "previous": previous,
        "sealed_at": sealed_at,
        "first_recorded_at": first_recorded_at,
        "last_recorded_at": last_recorded_at,
    }
