"""Scan alerts: new findings at or above fail_on go to a real webhook receiver and SMTP server,
signed; webhooks are retried with backoff, private addresses refused, secrets per site."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from consent_server.extensions import db
from consent_server.scans.alerts import (
    SIGNATURE_HEADER,
    send_pending_alert,
    verify_signature,
    verify_webhook,
    webhook_secret,
)
from consent_server.scans.models import Scan
from tests.support.scans import apply, cookie, declaration, fake_report, finding, finish
from tests.support.sinks import MailSink, WebhookReceiver


@pytest.fixture
def alerting(app: Flask) -> Iterator[tuple[WebhookReceiver, MailSink]]:
    with WebhookReceiver() as hook, MailSink() as mail:
        app.config.update(
            WEBHOOK_ALLOW_PRIVATE=True,
            WEBHOOK_BACKOFF=0.01,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=mail.port,
            SMTP_FROM="consent@example.se",
            PUBLIC_URL="https://consent.example.se",
        )
        with app.app_context():
            apply(
                declaration(
                    fail_on="high", alerts={"webhook": hook.url, "email": ["dpo@example.se"]}
                )
            )
        yield hook, mail


def test_alerts_tell_only_new_findings_at_or_above_fail_on(
    app: Flask, alerting: tuple[WebhookReceiver, MailSink]
):
    hook, mail = alerting
    with app.app_context():
        first = finish(
            "demo-shop",
            fake_report(
                [cookie("_fbp")],
                [finding("pre_consent", "high", "_fbp"), finding("undeclared", "medium", "x")],
            ),
        )
        result = send_pending_alert(first)
        assert result["webhook"]["ok"] and result["email"]["ok"], result
        headers, body, _ = hook.next()
        secret = webhook_secret("demo-shop")
        assert verify_signature(body, headers[SIGNATURE_HEADER.lower()], secret)
        assert verify_webhook(body, headers, secret)
        payload = json.loads(body)
        assert payload["event"] == "scan.new_findings" and payload["site"] == "demo-shop"
        assert headers["webhook-id"] == payload["delivery"]
        assert [(f["type"], f["cookie"]) for f in payload["new_findings"]] == [
            ("pre_consent", "_fbp")
        ]
        assert payload["report_url"].startswith(
            f"https://consent.example.se/api/v1/scans/{first}/report.html?"
        )
        rcpt, message = mail.next()
        assert rcpt == ["dpo@example.se"]
        assert "1 new finding at or above high" in message["Subject"]
        text = message.get_payload(decode=True).decode()
        assert "_fbp" in text and payload["report_url"] in text
        assert send_pending_alert(first) is None  # sent once

        # The same problems again, plus a new medium one: below fail_on, no alert.
        same = finish(
            "demo-shop",
            fake_report(
                [cookie("_fbp")],
                [
                    finding("pre_consent", "high", "_fbp"),
                    finding("lifetime_mismatch", "medium", "_fbp"),
                ],
            ),
        )
        assert db.session.get(Scan, same).alert_state is None
        assert send_pending_alert(same) is None

        # A new high one: the alert names it alone.
        third = finish(
            "demo-shop",
            fake_report(
                [cookie("_fbp"), cookie("_uetsid")],
                [
                    finding("pre_consent", "high", "_fbp"),
                    finding("after_reject", "high", "_uetsid", "after-reject"),
                ],
            ),
        )
        send_pending_alert(third)
        headers, body, _ = hook.next()
        assert [(f["type"], f["cookie"]) for f in json.loads(body)["new_findings"]] == [
            ("after_reject", "_uetsid")
        ]
        assert verify_signature(body, headers[SIGNATURE_HEADER.lower()], secret)
        mail.next()
        db.session.expire_all()
        assert db.session.get(Scan, third).alert_state == "sent"
    assert hook.nothing_more()


def test_webhooks_are_retried_with_backoff_then_given_up(app: Flask):
    from consent_server.scans.alerts import deliver_webhook

    with app.app_context():
        app.config.update(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_BACKOFF=0.01, WEBHOOK_ATTEMPTS=4)
        with WebhookReceiver(statuses=(503, 502, 200)) as hook:
            result = deliver_webhook(hook.url, b'{"a":1}', "s3cret", "delivery-1")
            assert result == {"ok": True, "status": 200, "attempts": 3}
            deliveries = [hook.next()[0]["x-consent-delivery"] for _ in range(3)]
            assert deliveries == ["delivery-1"] * 3
        with WebhookReceiver(statuses=(400,)) as hook:
            result = deliver_webhook(hook.url, b"{}", "s3cret", "delivery-2")
            assert (result["ok"], result["attempts"], result["status"]) == (False, 1, 400)
        with WebhookReceiver(statuses=(500,) * 4) as hook:
            assert deliver_webhook(hook.url, b"{}", "s", "d")["attempts"] == 4


def test_webhooks_to_private_addresses_are_refused_unless_allowed(app: Flask):
    from consent_server.scans.alerts import deliver_webhook

    with app.app_context(), WebhookReceiver() as hook:
        result = deliver_webhook(hook.url, b"{}", "s", "d")
        assert not result["ok"] and "WEBHOOK_ALLOW_PRIVATE" in result["error"]
        assert hook.nothing_more()


def test_site_webhook_secrets_differ_and_come_from_the_server_secret(app: Flask, tmp_path: Path):
    with app.app_context():
        a, b = webhook_secret("demo-shop"), webhook_secret("other-shop")
        assert a != b and len(a) == 64
        assert (Path(app.config["KEYS_DIR"]) / "webhook.secret").stat().st_mode & 0o077 == 0
        assert webhook_secret("demo-shop") == a
        app.config["WEBHOOK_SECRET"] = "configured"
        assert webhook_secret("demo-shop") not in (a, b)
