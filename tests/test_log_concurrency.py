"""The consent log under concurrent writers and sealers, over real HTTP."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from consent_server.consent_log.keys import KeyStore
from consent_server.consent_log.merkle import canonical, merkle_root, sha256_hex, unpack_leaves
from consent_server.consent_log.models import ConsentReceipt, Seal
from consent_server.consent_log.seals import SealResult, seal_site
from consent_server.consent_log.verify.bundle import verify_path
from consent_server.extensions import db
from consent_server.sites.models import Site
from tests.support.apps import ONLY_POSTGRES
from tests.support.consent import consent_body
from tests.support.live import LiveServer

SITE = "demo-shop"
THREADS = 16
POSTS_EACH = 25
SEALERS = 2
# The sealers are woken each time this many more receipts were acknowledged.
SEAL_EVERY = 40


def test_concurrent_posts_and_seals_store_and_seal_every_acknowledged_receipt_once(
    app: Flask,
    live_server: LiveServer,
    runner: FlaskCliRunner,
    demo_site: str,
    tmp_path: Path,
):
    url = f"{live_server.url}/api/v1/sites/{SITE}/consents"
    acknowledged: list[str] = []
    failures: list[str] = []
    seals_made: list[SealResult] = []
    seal_errors: list[str] = []
    count_lock = threading.Lock()
    count = 0
    wake = threading.Semaphore(0)
    posting_done = threading.Event()
    start = threading.Barrier(THREADS + SEALERS)

    def post_consents() -> None:
        nonlocal count
        with requests.Session() as http:
            start.wait()
            for _ in range(POSTS_EACH):
                try:
                    resp = http.post(url, json=consent_body(), timeout=60)
                except requests.RequestException as exc:
                    failures.append(repr(exc))
                    continue
                if resp.status_code != 201:
                    failures.append(f"{resp.status_code}: {resp.text[:300]}")
                    continue
                acknowledged.append(resp.json()["receipt_id"])
                with count_lock:
                    count += 1
                    if count % SEAL_EVERY == 0:
                        wake.release(SEALERS)  # both sealers at once: they race each other too

    def seal_while_posting() -> None:
        start.wait()
        with app.app_context():
            while True:
                wake.acquire()
                if posting_done.is_set():
                    return
                try:
                    seals_made.extend(seal_site(SITE))
                except Exception as exc:  # reported by the assertion below
                    seal_errors.append(repr(exc))

    began = time.monotonic()
    threads = [threading.Thread(target=post_consents) for _ in range(THREADS)]
    sealers = [threading.Thread(target=seal_while_posting) for _ in range(SEALERS)]
    for thread in threads + sealers:
        thread.start()
    for thread in threads:
        thread.join()
    posting_done.set()
    wake.release(SEALERS)
    for thread in sealers:
        thread.join()
    elapsed = time.monotonic() - began

    assert failures == []
    assert seal_errors == []
    assert len(acknowledged) == THREADS * POSTS_EACH
    assert len(set(acknowledged)) == len(acknowledged)
    # Sealing ran while receipts were being written, and sealed some of them.
    assert seals_made and sum(s.tree_size for s in seals_made) >= SEAL_EVERY
    assert elapsed < 60, f"{THREADS * POSTS_EACH} consents took {elapsed:.1f} s"

    with app.app_context():
        stored = Counter(db.session.execute(sa.select(ConsentReceipt.receipt_id)).scalars())
        assert stored == Counter(acknowledged)  # every acknowledged receipt, exactly once
        final = seal_site(SITE)
        assert sum(s.tree_size for s in seals_made + final) == len(acknowledged)
        seals = list(db.session.execute(sa.select(Seal).order_by(Seal.sequence)).scalars())
        receipts = {
            r.receipt_id: (r.seal_id, r.leaf_index, r.record_hash)
            for r in db.session.execute(sa.select(ConsentReceipt)).scalars()
        }

    assert [s.sequence for s in seals] == list(range(1, len(seals) + 1))
    assert sorted(s.sequence for s in seals_made + final) == [s.sequence for s in seals]
    previous = None
    in_seals: Counter[str] = Counter()
    for seal in seals:
        payload = seal.payload.encode()
        assert canonical(orjson.loads(payload)) == payload
        assert sha256_hex(payload) == seal.seal_hash
        assert seal.previous_hash == previous
        leaves = unpack_leaves(seal.leaves)
        assert len(leaves) == seal.tree_size
        assert merkle_root(h for _, h in leaves).hex() == seal.root_hash
        for index, (receipt_id, digest) in enumerate(leaves):
            in_seals[receipt_id] += 1
            assert receipts[receipt_id] == (seal.id, index, digest.hex())
        previous = seal.seal_hash
    assert in_seals == Counter(acknowledged)  # every receipt in exactly one seal

    bundle = tmp_path / "concurrent.zip"
    result = runner.invoke(args=["log", "export", "--site", SITE, "--bundle", str(bundle)])
    assert result.exit_code == 0, result.output
    report = verify_path(bundle)
    assert report.ok, report.summary()
    assert (report.receipts, report.seals, report.unsealed) == (len(acknowledged), len(seals), [])


@pytest.mark.timeout(60)
@ONLY_POSTGRES
def test_consents_are_recorded_while_a_sealer_holds_the_site_lock(
    app: Flask, live_server: LiveServer, demo_site: str
):
    url = f"{live_server.url}/api/v1/sites/{SITE}/consents"
    with app.app_context():
        site_id = db.session.execute(sa.select(Site.id).where(Site.key == SITE)).scalar_one()
        db.session.rollback()
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as sealer:
            tx = sealer.begin()
            sealer.execute(sa.text("SELECT pg_advisory_xact_lock(72616, :id)"), {"id": site_id})
            # The POST path takes no per-site lock: these complete while the lock is held.
            with requests.Session() as http:
                acknowledged = [
                    http.post(url, json=consent_body(), timeout=30).json()["receipt_id"]
                    for _ in range(5)
                ]
            blocked = sealer.execute(
                sa.text("SELECT count(*) FROM consent_receipts WHERE seal_id IS NULL")
            ).scalar_one()
            assert blocked == 5
            tx.commit()
    finally:
        engine.dispose()
    with app.app_context():
        (result,) = seal_site(SITE)
        assert (result.sequence, result.tree_size) == (1, 5)
        sealed = set(
            db.session.execute(
                sa.select(ConsentReceipt.receipt_id).where(ConsentReceipt.seal_id.is_not(None))
            ).scalars()
        )
    assert sealed == set(acknowledged)


def _first_use_at_once(folder: Path, workers: int) -> tuple[list[str], list[str]]:
    """Start `workers` key stores on an empty folder at the same instant: (kids, errors)."""
    start = threading.Barrier(workers)
    kids: list[str] = []
    errors: list[str] = []

    def first_use() -> None:
        store = KeyStore(folder)  # each worker process has its own store
        start.wait()
        try:
            kids.append(store.current().kid)
        except Exception as exc:  # reported by the caller's assertion
            errors.append(repr(exc))

    threads = [threading.Thread(target=first_use) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return kids, errors


def test_workers_starting_at_once_agree_on_one_first_signing_key(tmp_path: Path):
    for n in range(20):
        folder = tmp_path / f"keys-{n}"
        kids, errors = _first_use_at_once(folder, workers=16)
        assert errors == []
        assert len(kids) == 16 and len(set(kids)) == 1
        # Only the key that won is kept and published.
        assert [p.stem for p in folder.glob("*.pem")] == kids[:1]
        assert [k["kid"] for k in KeyStore(folder).jwks()["keys"]] == kids[:1]
