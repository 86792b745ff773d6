"""Checking the seals: signatures, roots and the chain."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any

import jwt

from consent_server.consent_log.keys import jwk_to_public_key
from consent_server.consent_log.merkle import (
    LEAF_SIZE,
    canonical,
    merkle_root,
    sha256_hex,
    unb64,
)
from consent_server.consent_log.verify.report import MAX_GAP_LISTED, Problem, VerifyReport


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
