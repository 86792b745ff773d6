"""Webhook delivery connects to exactly the address it checked (no DNS rebinding), keeps the
host name for Host, SNI and certificate checks, and signs per Standard Webhooks so that a
receiver can refuse replays."""

from __future__ import annotations

import datetime as dt
import re
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask

from consent_server.scans.alerts import deliver_webhook, standard_secret, verify_webhook
from tests.support.sinks import WebhookReceiver

DOCS = Path(__file__).resolve().parent.parent / "docs" / "deployment.md"
# RFC 6761: .invalid never resolves, so only the resolver hook can give it an address.
NOWHERE = "hooks.invalid"


class Resolver:
    """A resolver hook that answers `addresses` once and fails any later lookup."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if len(self.calls) > 1:
            raise OSError(f"{host} looked up again")
        return self.addresses


def _certificates(tmp_path: Path, name: str) -> tuple[Path, ssl.SSLContext]:
    """A CA (its PEM file) and a server context with a certificate for `name` it issued."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Webhook test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp_path / f"ca-{name}.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = tmp_path / f"server-{name}.pem"
    chain.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain)
    return ca_file, server


def _docs_helper() -> Callable[..., bool]:
    """The receiver's check exactly as docs/deployment.md shows it."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    code = next(block for block in blocks if "def genuine(" in block)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["genuine"]


# -- the address checked is the address connected to -----------------------------------------


def test_the_webhook_connects_to_the_address_the_resolver_gave(app: Flask):
    resolve = Resolver("127.0.0.1")
    with app.app_context(), WebhookReceiver() as hook:
        app.config.update(WEBHOOK_ALLOW_PRIVATE=True)
        url = f"http://{NOWHERE}:{hook.serving.port}/hooks/consent"
        result = deliver_webhook(url, b'{"a":1}', "s3cret", "delivery-1", resolve=resolve)
        assert result == {"ok": True, "status": 200, "attempts": 1}
        headers, body, _ = hook.next()
    # One lookup; the name itself never resolves, so a second lookup by the HTTP client
    # would have failed to connect.
    assert resolve.calls == [(NOWHERE, hook.serving.port)]
    assert headers["host"] == f"{NOWHERE}:{hook.serving.port}"
    assert body == b'{"a":1}'


def test_retries_reuse_the_checked_address_without_looking_the_name_up_again(app: Flask):
    resolve = Resolver("127.0.0.1")
    with app.app_context(), WebhookReceiver(statuses=(503, 200)) as hook:
        app.config.update(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_BACKOFF=0.01)
        url = f"http://{NOWHERE}:{hook.serving.port}/hooks/consent"
        result = deliver_webhook(url, b"{}", "s3cret", "delivery-2", resolve=resolve)
        assert result == {"ok": True, "status": 200, "attempts": 2}
    assert len(resolve.calls) == 1


@pytest.mark.parametrize("addresses", [("127.0.0.1",), ("8.8.8.8", "10.0.0.7"), ("::1",)])
def test_a_name_with_any_private_address_is_refused_before_connecting(
    app: Flask, addresses: tuple[str, ...]
):
    resolve = Resolver(*addresses)
    with app.app_context(), WebhookReceiver() as hook:
        url = f"http://{NOWHERE}:{hook.serving.port}/hooks/consent"
        result = deliver_webhook(url, b"{}", "s", "d", resolve=resolve)
        assert not result["ok"] and result["attempts"] == 0
        assert "WEBHOOK_ALLOW_PRIVATE" in result["error"]
        assert len(resolve.calls) == 1
        assert hook.nothing_more()


def test_redirects_are_final_failures_and_never_followed(app: Flask):
    with app.app_context(), WebhookReceiver(statuses=(302,)) as hook:
        app.config.update(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_BACKOFF=0.01)
        result = deliver_webhook(hook.url, b"{}", "s", "d")
        assert (result["ok"], result["status"], result["attempts"]) == (False, 302, 1)
        hook.next()
        assert hook.nothing_more()


# -- TLS to the checked address, verified for the host name ----------------------------------


def test_https_keeps_the_host_name_for_sni_host_and_certificate(app: Flask, tmp_path: Path):
    name = "hooks.example.test"
    ca_file, server = _certificates(tmp_path, name)
    resolve = Resolver("127.0.0.1")
    with app.app_context(), WebhookReceiver(tls=server) as hook:
        app.config.update(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_CA_FILE=str(ca_file))
        url = f"https://{name}:{hook.serving.port}/hooks/consent"
        result = deliver_webhook(url, b"{}", "s", "d", resolve=resolve)
        assert result == {"ok": True, "status": 200, "attempts": 1}
        headers, _, _ = hook.next()
    assert hook.server_names == [name]
    assert headers["host"] == f"{name}:{hook.serving.port}"
    assert resolve.calls == [(name, hook.serving.port)]


def test_https_refuses_a_certificate_for_another_name_or_from_an_unknown_ca(
    app: Flask, tmp_path: Path
):
    ca_file, server = _certificates(tmp_path, "other.example.test")
    with app.app_context():
        app.config.update(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_ATTEMPTS=1)
        with WebhookReceiver(tls=server) as hook:
            url = f"https://hooks.example.test:{hook.serving.port}/hooks/consent"
            app.config["WEBHOOK_CA_FILE"] = str(ca_file)
            result = deliver_webhook(url, b"{}", "s", "d", resolve=Resolver("127.0.0.1"))
            assert not result["ok"] and "certificate" in result["error"].lower(), result
            app.config["WEBHOOK_CA_FILE"] = None  # the system's CAs do not know the test CA
            other = f"https://other.example.test:{hook.serving.port}/hooks/consent"
            result = deliver_webhook(other, b"{}", "s", "d", resolve=Resolver("127.0.0.1"))
            assert not result["ok"] and "certificate" in result["error"].lower(), result
            assert hook.nothing_more()


# -- Standard Webhooks signatures and replays ------------------------------------------------


def test_a_receiver_verifies_the_standard_webhook_headers(app: Flask):
    with app.app_context(), WebhookReceiver() as hook:
        app.config.update(WEBHOOK_ALLOW_PRIVATE=True)
        before = int(time.time())
        assert deliver_webhook(hook.url, b'{"event":"x"}', "s3cret", "d-1")["ok"]
        headers, body, _ = hook.next()
    assert headers["webhook-id"] == "d-1" == headers["x-consent-delivery"]
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", headers["webhook-signature"])
    assert verify_webhook(body, headers, "s3cret")
    assert _docs_helper()(body, headers, "s3cret")
    assert not verify_webhook(body, headers, "another secret")
    assert not verify_webhook(body + b" ", headers, "s3cret")
    assert not _docs_helper()(body, headers, "another secret")
    # The key is the secret's bytes: a Standard Webhooks library takes it as whsec_<base64>.
    assert standard_secret("s3cret") == "whsec_czNjcmV0"


def test_a_replayed_delivery_with_an_old_timestamp_fails_verification(app: Flask):
    with app.app_context(), WebhookReceiver() as hook:
        app.config.update(WEBHOOK_ALLOW_PRIVATE=True)
        assert deliver_webhook(hook.url, b'{"event":"x"}', "s3cret", "d-2")["ok"]
        headers, body, _ = hook.next()
    sent = int(headers["webhook-timestamp"])
    genuine = _docs_helper()
    assert verify_webhook(body, headers, "s3cret", now=sent + 299)
    # Replayed six minutes later: outside the five-minute window.
    assert not verify_webhook(body, headers, "s3cret", now=sent + 360)
    assert not verify_webhook(body, headers, "s3cret", now=sent - 360)
    # Freshening the timestamp breaks the signature, which covers it.
    moved = {**headers, "webhook-timestamp": str(sent + 1)}
    assert not verify_webhook(body, moved, "s3cret", now=sent + 1)
    assert not genuine(body, moved, "s3cret")
    old = {**headers, "webhook-timestamp": str(sent - 600)}
    assert not genuine(body, old, "s3cret")
    missing = {k: v for k, v in headers.items() if k != "webhook-timestamp"}
    assert not verify_webhook(body, missing, "s3cret")
    assert not genuine(body, missing, "s3cret")


def test_every_attempt_is_signed_afresh_under_one_id(app: Flask):
    with app.app_context(), WebhookReceiver(statuses=(500, 200)) as hook:
        app.config.update(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_BACKOFF=0.01)
        assert deliver_webhook(hook.url, b"{}", "s3cret", "d-3")["attempts"] == 2
        attempts = [hook.next() for _ in range(2)]
    assert {h["webhook-id"] for h, _, _ in attempts} == {"d-3"}
    assert all(verify_webhook(b, h, "s3cret") for h, b, _ in attempts)
