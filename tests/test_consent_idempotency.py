"""A consent POST is idempotent with a client nonce, and a 503 never hides a second receipt.

The banner sends a `client_nonce` with each consent event and posts the same body again when
an answer does not arrive: the same (site, consent_id, client_nonce) always comes back as the
one stored receipt. A commit that is not confirmed in time is answered 503 with the receipt id
it would have, and the writer gives up within COMMIT_TIMEOUT when the database stalls.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask

from consent_server.consent_log.models import ConsentReceipt
from consent_server.extensions import db
from consent_server.sites.service import apply_declaration
from declaration.loader import read_declaration
from tests.support.apps import EXAMPLE, make_app, release, reset_database
from tests.support.consent import CONSENTS, consent_body
from tests.support.live import LiveServer
from tests.support.log import ReceiptsLock

COMMIT_TIMEOUT = 1.0


def _app(database_url: str, tmp_path: Path, **config: Any) -> Flask:
    app = make_app(tmp_path, database_url, **config)
    reset_database(app)
    with app.app_context():
        apply_declaration(read_declaration(EXAMPLE))
    return app


@pytest.fixture(params=[True, False], ids=["fast-path", "flask-view"])
def nonce_app(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The demo site on both paths of the consent POST."""
    app = _app(database_url, tmp_path, CONSENT_FAST_PATH=request.param)
    yield app
    release(app)


@pytest.fixture(params=[True, False], ids=["fast-path", "flask-view"])
def short_app(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The demo site with a short COMMIT_TIMEOUT, on both paths of the consent POST."""
    app = _app(
        database_url, tmp_path, COMMIT_TIMEOUT=COMMIT_TIMEOUT, CONSENT_FAST_PATH=request.param
    )
    yield app
    release(app)


def stored_rows(app: Flask, consent_id: str) -> list[str]:
    """Receipt ids stored for a consent id."""
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(ConsentReceipt.receipt_id).where(ConsentReceipt.consent_id == consent_id)
            ).scalars()
        )


def test_a_retry_with_the_same_nonce_returns_the_stored_receipt(nonce_app: Flask):
    client = nonce_app.test_client()
    body = consent_body(client_nonce=str(uuid.uuid4()))
    first = client.post(CONSENTS, json=body)
    again = client.post(CONSENTS, json=body)
    assert first.status_code == 201, first.get_json()
    assert again.status_code == 201, again.get_json()
    # The same receipt, signature included: the stored record signed again by the same key.
    assert again.get_json() == first.get_json()
    assert stored_rows(nonce_app, body["consent_id"]) == [first.get_json()["receipt_id"]]


def test_another_nonce_or_none_is_another_receipt(nonce_app: Flask):
    client = nonce_app.test_client()
    consent_id = str(uuid.uuid4())
    answers = [
        client.post(CONSENTS, json=consent_body(consent_id=consent_id, **extra)).get_json()
        for extra in (
            {"client_nonce": str(uuid.uuid4())},
            {"client_nonce": str(uuid.uuid4())},
            {},
            {},
        )
    ]
    assert len({a["receipt_id"] for a in answers}) == 4
    assert sorted(stored_rows(nonce_app, consent_id)) == sorted(a["receipt_id"] for a in answers)


def test_the_nonce_is_one_per_site_and_consent_id(nonce_app: Flask):
    client = nonce_app.test_client()
    nonce = str(uuid.uuid4())
    one = client.post(CONSENTS, json=consent_body(client_nonce=nonce)).get_json()
    two = client.post(CONSENTS, json=consent_body(client_nonce=nonce)).get_json()
    assert one["receipt_id"] != two["receipt_id"]


@pytest.mark.parametrize("nonce", ["not-a-uuid", str(uuid.uuid4()).upper(), 7, None])
def test_a_malformed_nonce_is_refused(nonce_app: Flask, nonce: Any):
    client = nonce_app.test_client()
    resp = client.post(CONSENTS, json=consent_body(client_nonce=nonce))
    assert resp.status_code == 422
    assert "client_nonce" in resp.get_json()["errors"]["json"]


def test_concurrent_posts_of_one_nonce_store_one_receipt(nonce_app: Flask):
    with LiveServer(nonce_app) as server:
        body = consent_body(client_nonce=str(uuid.uuid4()))
        answers: list[tuple[int, dict]] = []
        lock = threading.Lock()

        def post() -> None:
            answer = _post(server.port, body)
            with lock:
                answers.append(answer)

        threads = [threading.Thread(target=post) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert [code for code, _ in answers] == [201] * 8
    assert len({out["receipt_id"] for _, out in answers}) == 1
    assert stored_rows(nonce_app, body["consent_id"]) == [answers[0][1]["receipt_id"]]


# -- a database that stalls ----------------------------------------------------------------------


def _post(port: int, body: dict[str, Any]) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", CONSENTS, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


class Poster(threading.Thread):
    """Posts one body from a thread; `answer` and `seconds` once done."""

    def __init__(self, port: int, body: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.port, self.body = port, body
        self.answer: tuple[int, dict] | None = None
        self.seconds = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        try:
            self.answer = _post(self.port, self.body)
        finally:
            self.seconds = time.monotonic() - started
            self.done.set()


def test_the_leader_gives_up_within_the_timeout_when_the_table_is_locked(short_app: Flask):
    writer = short_app.extensions["receipt_writer"]
    with LiveServer(short_app) as server:
        lock = ReceiptsLock(short_app)
        try:
            posters = [
                Poster(server.port, consent_body(client_nonce=str(uuid.uuid4()))) for _ in range(4)
            ]
            posters[0].start()
            deadline = time.monotonic() + 10
            while not writer._leading:
                assert time.monotonic() < deadline, "the first post never reached the writer"
                posters[0].done.wait(0.005)
            for poster in posters[1:]:
                poster.start()
            # Each answer within about two timeouts (a waiter handed the lead waits for its own
            # batch once more), never held until the lock goes away.
            for poster in posters:
                assert poster.done.wait(2 * COMMIT_TIMEOUT + 3), "a post outlived the timeout"
        finally:
            lock.release()
        for poster in posters:
            code, out = poster.answer
            assert code == 503, out
            assert out["message"].startswith("The receipt's commit was not confirmed")
            assert uuid.UUID(out["errors"]["receipt_id"])
        # The retries (same nonce) after the lock is gone: each consent stored exactly once,
        # and a receipt that was stored after all is the one the 503 named.
        for poster in posters:
            code, out = _post(server.port, poster.body)
            assert code == 201, out
            rows = stored_rows(short_app, poster.body["consent_id"])
            assert rows == [out["receipt_id"]]


def test_a_receipt_stored_after_its_503_is_the_one_its_retry_gets(short_app: Flask):
    writer = short_app.extensions["receipt_writer"]
    # Here the database must outwait the requests: the new leader's batch waits for the lock
    # well past the waiter giving up, so the release below always lets it commit (on a busy
    # machine a batch timing out at the same moment would make this test a coin toss).
    writer.statement_timeout = 10 * COMMIT_TIMEOUT
    with LiveServer(short_app) as server:
        lock = ReceiptsLock(short_app)
        released = False
        try:
            first = Poster(server.port, consent_body(client_nonce=str(uuid.uuid4())))
            first.start()
            deadline = time.monotonic() + 10
            while not writer._leading:
                assert time.monotonic() < deadline
                first.done.wait(0.005)
            later = [
                Poster(server.port, consent_body(client_nonce=str(uuid.uuid4()))) for _ in range(2)
            ]
            for poster in later:
                poster.start()
            # The first post's batch times out and hands the lead to one of the later posts;
            # the other gives up waiting while its row is in the new leader's batch...
            gave_up = None
            while gave_up is None:
                assert time.monotonic() < deadline + 10, "no post gave up"
                gave_up = next((p for p in later if p.done.is_set()), None)
                if gave_up is None:
                    later[0].done.wait(0.005)
            lock.release()
            released = True
        finally:
            if not released:
                lock.release()
        for poster in [first, *later]:
            assert poster.done.wait(30)
        code, out = gave_up.answer
        assert code == 503, out
        named = out["errors"]["receipt_id"]
        # ...and is committed with it once the lock is gone: stored, though answered 503. A row
        # whose request gave up may be committed by a writer thread after every answer went out.
        deadline = time.monotonic() + 10
        while not stored_rows(short_app, gave_up.body["consent_id"]):
            assert time.monotonic() < deadline, "the abandoned receipt was never committed"
            gave_up.done.wait(0.01)
        assert stored_rows(short_app, gave_up.body["consent_id"]) == [named]
        code, again = _post(server.port, gave_up.body)
        assert (code, again["receipt_id"]) == (201, named)
        assert stored_rows(short_app, gave_up.body["consent_id"]) == [named]


@pytest.mark.postgres
def test_the_writer_connects_with_the_engine_connect_args(tmp_path: Path, postgres_url: str):
    name = f"cm-writer-{uuid.uuid4().hex[:8]}"
    app = _app(
        postgres_url,
        tmp_path,
        SQLALCHEMY_ENGINE_OPTIONS={
            "pool_pre_ping": True,
            "connect_args": {"application_name": name},
        },
    )
    try:
        resp = app.test_client().post(CONSENTS, json=consent_body())
        assert resp.status_code == 201, resp.get_json()
        url = sa.make_url(postgres_url).set(drivername="postgresql")
        with psycopg.connect(url.render_as_string(hide_password=False)) as admin:
            queries = [
                q
                for (q,) in admin.execute(
                    "SELECT query FROM pg_stat_activity WHERE application_name = %s", (name,)
                )
            ]
        assert any(q.startswith("INSERT INTO consent_receipts") for q in queries), queries
    finally:
        release(app)
