"""Verifying an export or an audit bundle from files."""

from __future__ import annotations

import functools
import gc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from consent_server.consent_log.merkle import (
    canonical,
)
from consent_server.consent_log.verify.blocks import BLOCK_SIZE, choose_jobs
from consent_server.consent_log.verify.judge import verify_stream
from consent_server.consent_log.verify.report import Problem, VerifyReport
from consent_server.consent_log.verify.seals import _missing_seals, _read_signature, _trusted_keys


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
    path: Path, pinned: bool, trusted_keys: Any, jobs: int | None, block_size: int
) -> VerifyReport:
    """Verify an audit bundle (.zip): receipts, seals, keys and the signed manifest.

    `pinned`: `trusted_keys` are the auditor's (even when they hold no usable key); without
    them the bundle's own jwks.json is used, and the report says so.
    """
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        seal_docs = _load_jsonl(zf.read("seals.jsonl")) if "seals.jsonl" in names else []
        if pinned:
            keys = trusted_keys
        else:
            keys = orjson.loads(zf.read("jwks.json")) if "jwks.json" in names else {"keys": []}
        size = zf.getinfo("receipts.jsonl").file_size
        report = verify_stream(
            lambda: zf.open("receipts.jsonl"),
            seal_docs,
            keys,
            jobs=choose_jobs(jobs, size),
            block_size=block_size,
            keys_from="pinned" if pinned else "bundle",
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
    """Verify a bundle (.zip) or a JSONL export with its seals; `jwks` pins trusted keys
    (without it a bundle is checked with its own keys, and the report's `keys` is "bundle").

    `jobs`: worker processes (None: one per core for a large export, 1: none); `block_size`:
    bytes of receipts read, and handed to a worker, at a time.
    """
    path = Path(path)
    pinned = bool(jwks)
    # Pinned keys are used as they are: a file holding no usable key fails every signature,
    # never falls back to the keys of the bundle.
    trusted_keys = orjson.loads(Path(jwks).read_bytes()) if jwks else None
    if zipfile.is_zipfile(path):
        try:
            return _verify_bundle(path, pinned, trusted_keys, jobs, block_size)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise ValueError(f"the bundle is damaged ({exc})") from exc
    if seals is None:
        raise ValueError("a JSONL export needs --seals FILE (or use a bundle .zip)")
    if not pinned:
        raise ValueError("a JSONL export needs --jwks FILE (or use a bundle .zip)")
    seal_docs = _load_jsonl(Path(seals).read_bytes())
    jobs = choose_jobs(jobs, path.stat().st_size)
    return verify_stream(
        lambda: path.open("rb"), seal_docs, trusted_keys, jobs=jobs, block_size=block_size
    )
