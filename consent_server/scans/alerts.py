"""Alerts on a scan's new findings: a signed JSON webhook and an e-mail, with retries.

A scan alerts when it has findings at or above the site's `scan.fail_on` that its previous
scan did not have. The webhook body is signed with HMAC-SHA256 under a per-site secret,
derived from one server secret (CONSENT_WEBHOOK_SECRET, else a random one kept in the key
folder), so the secret of one site tells nothing about another's. Signatures follow Standard
Webhooks (https://www.standardwebhooks.com): the id and the attempt's time are signed with the
body, so a receiver can refuse replays:

    site secret = hex(HMAC-SHA256(server secret, "consent-webhook:" + site key))
    webhook-signature: v1,base64(HMAC-SHA256(site secret, "{id}.{timestamp}.{raw body}"))
    X-Consent-Signature: sha256=hex(HMAC-SHA256(site secret, raw body))  (deprecated)

`consent-server scans webhook-secret SITE` prints a site's secret for its receiver.

The webhook's host is resolved once per delivery; every address is checked (no private ones
unless allowed) and the request goes to exactly those addresses, with the URL's host name kept
for the Host header, TLS SNI and the certificate check: a name that resolves to a public
address for the check and to an internal one for the connection cannot reach the inside.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.client
import logging
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from flask import current_app
from sqlalchemy import update

from consent_server.clock import as_utc
from consent_server.extensions import db
from consent_server.keyfiles import kept_secret
from consent_server.scans.models import Scan
from consent_server.scans.results import alert_findings
from consent_server.tx import transaction

log = logging.getLogger(__name__)

# Deprecated: kept for one release beside the Standard Webhooks headers, then dropped.
SIGNATURE_HEADER = "X-Consent-Signature"
EVENT = "scan.new_findings"
# Seconds a receiver accepts a delivery's webhook-timestamp away from its own clock.
REPLAY_TOLERANCE = 300
SECRET_FILE = "webhook.secret"  # noqa: S105 - a file name


# -- secrets and signed links ----------------------------------------------------------------


def server_secret() -> bytes:
    """CONSENT_WEBHOOK_SECRET, else a random secret created once in the key folder (0600)."""
    configured = current_app.config.get("WEBHOOK_SECRET")
    if configured:
        return str(configured).encode()
    return kept_secret(Path(current_app.config["KEYS_DIR"]) / SECRET_FILE).encode()


def _derive(label: str) -> bytes:
    return hmac.new(server_secret(), label.encode(), hashlib.sha256).hexdigest().encode()


def webhook_secret(site_key: str) -> str:
    """The secret a site's webhook receiver checks signatures with."""
    return _derive(f"consent-webhook:{site_key}").decode()


def sign(body: bytes, secret: str) -> str:
    """The deprecated X-Consent-Signature value of a body: sha256=<hex HMAC-SHA256>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str, secret: str) -> bool:
    """Whether a deprecated X-Consent-Signature header matches the body (constant time)."""
    return hmac.compare_digest(sign(body, secret), header or "")


def standard_signature(message_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """The webhook-signature value: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_secret(secret: str) -> str:
    """A site secret as Standard Webhooks libraries take it: whsec_<base64 of the key>."""
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float = REPLAY_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether a delivery's Standard Webhooks headers are genuine and its timestamp is fresh."""
    lower = {k.lower(): v for k, v in headers.items()}
    message_id = lower.get("webhook-id", "")
    timestamp = lower.get("webhook-timestamp", "")
    if not message_id or not (timestamp.isascii() and timestamp.isdigit()):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    expected = standard_signature(message_id, int(timestamp), body, secret)
    return any(
        hmac.compare_digest(expected, given) for given in lower.get("webhook-signature", "").split()
    )


def _link_signature(scan_id: int, expires: int) -> str:
    return hmac.new(
        _derive("consent-report-link"), f"{scan_id}:{expires}".encode(), hashlib.sha256
    ).hexdigest()


def public_url(path: str) -> str:
    """An absolute link under CONSENT_PUBLIC_URL (the path alone when it is not set)."""
    base = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    return base + path


def report_link(scan_id: int, now: dt.datetime | None = None) -> str:
    """A link to the scan's HTML report that works without a token until it expires."""
    now = now or dt.datetime.now(dt.UTC)
    days = float(current_app.config["REPORT_LINK_DAYS"])
    expires = int((now + dt.timedelta(days=days)).timestamp())
    query = urlencode({"expires": expires, "signature": _link_signature(scan_id, expires)})
    return public_url(f"/api/v1/scans/{scan_id}/report.html?{query}")


def check_report_link(scan_id: int, expires: str | None, signature: str | None) -> bool:
    """Whether a signed report link is genuine and not expired."""
    if not expires or not signature or not expires.isdigit() or len(expires) > 12:
        return False
    if int(expires) < time.time():
        return False
    return hmac.compare_digest(_link_signature(scan_id, int(expires)), signature)


# -- the alert -------------------------------------------------------------------------------


def alert_payload(
    scan: Scan, delivery: str | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The webhook body: what is new (and not waived at `now`), with links to report and diff."""
    new, previous = alert_findings(scan, now)
    settings = scan.settings or {}
    return {
        "event": EVENT,
        "delivery": delivery or str(uuid.uuid4()),
        "sent_at": dt.datetime.now(dt.UTC).isoformat(),
        "site": scan.site.key,
        "site_name": scan.site.name,
        "scan": {
            "id": scan.id,
            "url": settings.get("url"),
            "trigger": scan.trigger,
            "finished_at": (as_utc(scan.finished_at) or dt.datetime.now(dt.UTC)).isoformat(),
            "previous": previous,
            "finding_counts": scan.finding_counts,
        },
        "fail_on": settings.get("fail_on", "high"),
        "new_findings": [
            {k: f[k] for k in ("type", "severity", "message", "cookie", "domain", "phase", "page")}
            for f in new
        ],
        "report_url": report_link(scan.id),
        "scan_url": public_url(f"/api/v1/scans/{scan.id}"),
        "diff_url": public_url(f"/api/v1/scans/{scan.id}/diff"),
    }


def alert_text(payload: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of the alert e-mail."""
    new = payload["new_findings"]
    subject = (
        f"[consent] {payload['site']}: {len(new)} new finding{'s' if len(new) != 1 else ''} "
        f"at or above {payload['fail_on']}"
    )
    scan = payload["scan"]
    lines = [
        f"The scan {scan['id']} of {payload['site_name']} ({scan['url']}) found "
        + (
            f"problems that scan {scan['previous']} did not have:"
            if scan["previous"]
            else "these problems (its first scan):"
        ),
        "",
    ]
    for f in new:
        where = f" on {f['page']}" if f.get("page") else ""
        lines.append(f"- [{f['severity']}] {f['message']}{where}")
    lines += [
        "",
        f"Report: {payload['report_url']}",
        f"What changed since the previous scan: {payload['diff_url']}",
        "",
        "-- the consent manager's scheduled scans",
    ]
    return subject, "\n".join(lines) + "\n"


def send_pending_alert(scan_id: int, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """Send the scan's alert once, if it has one pending; record what each channel did.

    Findings waived at `now` (default: the current time) are left out.
    """
    with transaction():
        won = db.session.execute(
            update(Scan)
            .where(Scan.id == scan_id, Scan.alert_state == "pending")
            .values(alert_state="sending")
            .execution_options(synchronize_session=False)
        ).rowcount
    if not won:
        return None
    scan = db.session.get(Scan, scan_id)
    db.session.refresh(scan)
    alerts = (scan.settings or {}).get("alerts") or {}
    result: dict[str, Any] = {}
    state = None
    try:
        payload = alert_payload(scan, now=now)
        result["new_findings"] = len(payload["new_findings"])
        if not payload["new_findings"]:
            # Waived between the scan and now: an alert about nothing would only be noise.
            state = "skipped"
        elif alerts.get("webhook"):
            body = orjson.dumps(payload)
            result["webhook"] = deliver_webhook(
                alerts["webhook"], body, webhook_secret(scan.site.key), payload["delivery"]
            )
        if state is None and alerts.get("email"):
            subject, text = alert_text(payload)
            result["email"] = send_email(alerts["email"], subject, text)
    except Exception as exc:  # never lose the record of an attempt
        log.exception("scan %s: alert failed", scan_id)
        result["error"] = f"{type(exc).__name__}: {exc}"
    channels = [v for k, v in result.items() if k in ("webhook", "email")]
    ok = bool(channels) and all(c.get("ok") for c in channels) and "error" not in result
    db.session.rollback()
    with transaction():
        db.session.execute(
            update(Scan)
            .where(Scan.id == scan_id)
            .values(alert_state=state or ("sent" if ok else "failed"), alert_result=result)
            .execution_options(synchronize_session=False)
        )
    return result


# -- channels --------------------------------------------------------------------------------


Resolver = Callable[[str, int], list[str]]


def resolve_addresses(host: str, port: int) -> list[str]:
    """The host's addresses for a TCP connection, in the system's order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _check_addresses(url: str, addresses: list[str]) -> str | None:
    """Why the webhook may not be called at these (already resolved) addresses, or None."""
    if current_app.config.get("WEBHOOK_ALLOW_PRIVATE"):
        return None
    from scanner import non_public_address

    for address in addresses:
        # The mapping makes the guard judge this address instead of resolving the name again.
        problem = non_public_address(url, {"*": address})
        if problem:
            return f"{problem} (set CONSENT_WEBHOOK_ALLOW_PRIVATE=true to allow it)"
    return None


def _open_socket(addresses: list[str], port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first of the checked addresses that answers."""
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            error = exc
    raise error or OSError("no address to connect to")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to addresses checked beforehand; the URL's host still names the Host header."""

    def __init__(self, host: str, port: int, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self) -> None:
        """Connect to a checked address, never to a fresh lookup of the host name."""
        self.sock = _open_socket(self.addresses, self.port, self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to addresses checked beforehand, with SNI and certificate checked for the host."""

    def __init__(
        self, host: str, port: int, addresses: list[str], timeout: float, tls: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=tls)
        self.addresses = addresses
        self.tls = tls

    def connect(self) -> None:
        """Connect to a checked address; TLS names (SNI, certificate) are the URL's host."""
        sock = _open_socket(self.addresses, self.port, self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _tls_context() -> ssl.SSLContext:
    """Certificates checked against CONSENT_WEBHOOK_CA_FILE, else the system's CAs."""
    return ssl.create_default_context(cafile=current_app.config.get("WEBHOOK_CA_FILE") or None)


def _post(
    url: str, addresses: list[str], body: bytes, headers: dict[str, str], timeout: float
) -> int:
    """POST the body to the URL over a connection to one of `addresses`; the status."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = _PinnedHTTPSConnection(host, port, addresses, timeout, _tls_context())
    else:
        connection = _PinnedHTTPConnection(host, port, addresses, timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)  # a little of the answer, so the connection closes cleanly
        return response.status
    finally:
        connection.close()


def deliver_webhook(
    url: str, body: bytes, secret: str, delivery: str, *, resolve: Resolver | None = None
) -> dict[str, Any]:
    """POST the signed body; retry network errors, 408, 429 and 5xx with exponential backoff.

    `resolve(host, port)` gives the host's addresses (the system resolver by default); they are
    looked up once, checked, and are the only addresses connected to. Redirects are not
    followed: a 3xx answer is final, as another address would bypass the check.
    """
    conf = current_app.config
    attempts = max(1, int(conf["WEBHOOK_ATTEMPTS"]))
    backoff = float(conf["WEBHOOK_BACKOFF"])
    timeout = float(conf["WEBHOOK_TIMEOUT"])
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return {"ok": False, "attempts": 0, "error": f"not an http(s) URL: {url}"}
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        return {"ok": False, "attempts": 0, "error": str(exc)}
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "consent-manager-webhook/1",
        "X-Consent-Event": EVENT,
        "X-Consent-Delivery": delivery,  # the same on every retry: receivers can deduplicate
        "webhook-id": delivery,
        SIGNATURE_HEADER: sign(body, secret),
    }
    addresses: list[str] | None = None
    error = None
    for attempt in range(1, attempts + 1):
        try:
            if addresses is None:
                # Once per delivery: retries go to the addresses that were checked.
                addresses = (resolve or resolve_addresses)(parts.hostname, port)
                refused = _check_addresses(url, addresses)
                if refused:
                    log.warning("webhook %s refused: %s", url, refused)
                    return {"ok": False, "attempts": attempt - 1, "error": refused}
            # Each attempt has its own time, signed with the body: a replay shows its age.
            timestamp = int(time.time())
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = standard_signature(delivery, timestamp, body, secret)
            status = _post(url, addresses, body, headers, timeout)
            if 200 <= status < 300:
                return {"ok": True, "status": status, "attempts": attempt}
            error = f"HTTP {status}"
            if status < 500 and status not in (408, 429):
                return {"ok": False, "status": status, "attempts": attempt, "error": error}
        except (OSError, http.client.HTTPException) as exc:
            error = str(exc) or type(exc).__name__
        if attempt < attempts:
            time.sleep(backoff * 2 ** (attempt - 1))
    log.warning("webhook %s failed after %s attempts: %s", url, attempts, error)
    return {"ok": False, "attempts": attempts, "error": error}


def send_email(recipients: list[str], subject: str, text: str) -> dict[str, Any]:
    """Send a plain-text e-mail over SMTP (CONSENT_SMTP_*); retry temporary failures."""
    conf = current_app.config
    if not conf.get("SMTP_HOST") or not conf.get("SMTP_FROM"):
        return {
            "ok": False,
            "attempts": 0,
            "error": "CONSENT_SMTP_HOST and CONSENT_SMTP_FROM are not set",
        }
    message = EmailMessage()
    message["From"] = conf["SMTP_FROM"]
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(text)
    attempts = max(1, int(conf["WEBHOOK_ATTEMPTS"]))
    error = None
    for attempt in range(1, attempts + 1):
        try:
            with smtplib.SMTP(
                conf["SMTP_HOST"], int(conf["SMTP_PORT"]), timeout=float(conf["SMTP_TIMEOUT"])
            ) as smtp:
                if conf.get("SMTP_STARTTLS"):
                    smtp.starttls()
                if conf.get("SMTP_USER"):
                    smtp.login(conf["SMTP_USER"], conf.get("SMTP_PASSWORD") or "")
                refused = smtp.send_message(message)
            return {"ok": True, "attempts": attempt, "refused": sorted(refused)}
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            if exc.smtp_code < 400 or exc.smtp_code >= 500:
                return {"ok": False, "attempts": attempt, "error": error}
        except smtplib.SMTPRecipientsRefused as exc:
            return {
                "ok": False,
                "attempts": attempt,
                "error": f"recipients refused: {sorted(exc.recipients)}",
            }
        except (smtplib.SMTPException, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if attempt < attempts:
            time.sleep(float(conf["WEBHOOK_BACKOFF"]) * 2 ** (attempt - 1))
    return {"ok": False, "attempts": attempts, "error": error}
