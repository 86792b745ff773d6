"""Fill a benchmark database with N valid consent receipts fast (COPY, not the HTTP API).

    .venv/bin/python bench/generate.py --rows 1000000   (DATABASE_URL, CONSENT_KEYS_DIR set)

Each record is built exactly as consent_log/receipts.py record_consent builds it (its helpers:
check_decisions, check_page_url, truncate_ip, user_agent_family, isoformat; canonical JSON
via consent_server.consent_log.merkle.canonical; SHA-256), then the rows are bulk-loaded with psycopg
COPY. Before loading, one receipt is recorded through record_consent itself and rebuilt by
the generator: the two records must be byte for byte identical, or the script stops.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

SITE = "demo-shop"
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    "",
)
PAGES = (
    "https://demo.example.se/",
    "https://demo.example.se/produkter?email=a@b.se#top",
    "https://demo.example.se/kassa?step=2",
    "https://demo.example.se/om-oss",
    None,
)
COPY_COLUMNS = (
    "receipt_id, consent_id, site_id, revision_id, method, decisions, recorded_at, record, "
    "record_hash, language, gpc"
)


def copy_line(site_id: int, revision_id: int, record: dict, decisions: dict) -> str:
    """One receipt as a line of COPY text in COPY_COLUMNS order, as the writer would store it."""
    from consent_server.consent_log.merkle import canonical

    body = canonical(record)
    return (
        f"{record['receipt_id']}\t{record['consent_id']}\t{site_id}\t{revision_id}\t"
        f"{record['method']}\t{_copy_text(json.dumps(decisions))}\t{record['recorded_at']}\t"
        f"{_copy_text(body.decode('utf-8'))}\t{hashlib.sha256(body).hexdigest()}\t"
        f"{_copy_text(record.get('language') or '')}\t{'t' if record.get('gpc') else 'f'}\n"
    )


START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _uuid4(rand: random.Random) -> str:
    return str(uuid.UUID(int=rand.getrandbits(128), version=4))


def build_record(
    site: Any,
    revision: Any,
    payload: dict[str, Any],
    *,
    receipt_id: str,
    now: dt.datetime,
    client_ip: str | None,
    user_agent: str | None,
) -> tuple[dict[str, Any], dict[str, bool]]:
    """The record record_consent builds (receipts.build_record itself), and its decisions."""
    from consent_server.consent_log.receipts import build_record as build

    record = build(
        site,
        revision,
        payload,
        receipt_id=receipt_id,
        now=now,
        client_ip=client_ip,
        user_agent=user_agent,
    )
    return record, record["decisions"]


def _payload(rand: random.Random, revision: Any) -> dict[str, Any]:
    optional = [c for c in revision.categories if c not in revision.required]
    roll = rand.random()
    gpc = False
    if roll < 0.55:
        method, chosen = "accept_all", set(optional)
    elif roll < 0.85:
        method, chosen = "reject_all", set()
    elif roll < 0.97:
        method, chosen = "custom", {c for c in optional if rand.random() < 0.5}
    else:
        method, chosen, gpc = "gpc", set(), True
    decisions = {c: (c in revision.required or c in chosen) for c in revision.categories}
    payload: dict[str, Any] = {
        "consent_id": _uuid4(rand),
        "revision": revision.number,
        "decisions": decisions,
        "method": method,
        "gpc": gpc,
    }
    if rand.random() < 0.9:
        payload["language"] = rand.choice(("sv", "sv", "en", "de"))
    page = rand.choice(PAGES)
    if page:
        payload["page_url"] = page
    return payload


def _copy_text(value: str) -> str:
    # COPY text format: backslash, tab, newline and carriage return must be escaped.
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


def check_against_service(app: Any, site: Any, revision: Any) -> None:
    """Record one receipt through record_consent and rebuild it: the bytes must agree."""
    from sqlalchemy import select

    from consent_server.consent_log.merkle import canonical
    from consent_server.consent_log.models import ConsentReceipt
    from consent_server.consent_log.receipts import record_consent
    from consent_server.extensions import db

    payload = {
        "consent_id": str(uuid.uuid4()),
        "revision": revision.number,
        "decisions": {"necessary": True, "preferences": True, "analytics": False},
        "method": "custom",
        "language": "en",
        "page_url": "https://demo.example.se/produkter?email=a@b.se#top",
        "gpc": False,
    }
    ip, ua = "192.0.2.77", USER_AGENTS[0]
    done = record_consent(site, dict(payload), client_ip=ip, user_agent=ua)
    stored, digest = db.session.execute(
        select(ConsentReceipt.record, ConsentReceipt.record_hash).where(
            ConsentReceipt.receipt_id == done.receipt_id
        )
    ).one()
    now = dt.datetime.strptime(done.recorded_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    mine, _ = build_record(
        site, revision, payload, receipt_id=done.receipt_id, now=now, client_ip=ip, user_agent=ua
    )
    body = canonical(mine)
    if body.decode() != stored or hashlib.sha256(body).hexdigest() != digest:
        raise SystemExit(
            "the generator no longer builds records as record_consent does:\n"
            f"  service:   {stored}\n  generator: {body.decode()}"
        )


def generate(db_url: str, rows: int, seed: int = 20261122) -> dict[str, Any]:
    """Insert `rows` receipts (one through the service, the rest by COPY); return timings."""
    from consent_server.app import create_app
    from consent_server.sites.service import get_revision, get_site_view

    app = create_app()
    with app.app_context():
        site = get_site_view(SITE)
        revision = get_revision(site, site.current.number)
        check_against_service(app, site, revision)
    rand = random.Random(seed)
    ips = [f"{rand.randrange(1, 224)}.{rand.randrange(256)}.{i % 256}.{i % 7}" for i in range(512)]
    ips += [f"2001:db8:{i:x}::{i + 1:x}" for i in range(64)]
    started = time.perf_counter()
    batch = 20_000
    with app.app_context(), psycopg.connect(db_url) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY consent_receipts ({COPY_COLUMNS}) FROM STDIN") as copy,
        ):
            n = 1  # the receipt recorded through the service
            while n < rows:
                lines = []
                for _ in range(min(batch, rows - n)):
                    payload = _payload(rand, revision)
                    now = START + dt.timedelta(seconds=n * 30, microseconds=rand.randrange(10**6))
                    receipt_id = _uuid4(rand)
                    record, decisions = build_record(
                        site,
                        revision,
                        payload,
                        receipt_id=receipt_id,
                        now=now,
                        client_ip=rand.choice(ips),
                        user_agent=rand.choice(USER_AGENTS),
                    )
                    lines.append(copy_line(site.id, revision.id, record, decisions))
                    n += 1
                copy.write("".join(lines).encode("utf-8"))
        conn.commit()
        loaded = time.perf_counter() - started
        conn.autocommit = True
        t = time.perf_counter()
        conn.execute("VACUUM (ANALYZE) consent_receipts")
        vacuum = time.perf_counter() - t
        count = conn.execute("SELECT count(*) FROM consent_receipts").fetchone()[0]
    return {"rows": count, "generate_and_copy_s": loaded, "vacuum_s": vacuum}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    if not 1 <= args.rows <= 5_000_000:
        parser.error("--rows must be 1..5000000")
    res = generate(os.environ["DATABASE_URL"], args.rows)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
