"""The console's tests: axe-core (installed with npm ci on first use), signing in through the
form, a settable clock, and a small OpenID Connect provider on loopback."""

from __future__ import annotations

import base64
import html
import json
import secrets
import subprocess
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from jwt.algorithms import RSAAlgorithm

from consent_server.sites.tokens import create_token
from tests.support.apps import demo_app, missing
from tests.support.live import LiveServer, Serving, serve_http
from tests.support.scans import apply, declaration, fake_report, finish

if TYPE_CHECKING:
    from playwright.sync_api import Page

AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"


def axe_script() -> Path:
    """axe.min.js, installed from tests/support/axe/package-lock.json when missing."""
    if not AXE_JS.exists():
        try:
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=AXE_DIR,
                check=True,
                timeout=300,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            missing(f"axe-core could not be installed with npm ci: {exc}")
    return AXE_JS


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.add_script_tag(path=str(axe_script()))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def sign_in(page: Page, base_url: str, token: str, lang: str = "en") -> None:
    """Sign in to the console through its form."""
    page.goto(f"{base_url}/admin/signin?lang={lang}")
    page.fill("#token", token)
    page.click("form button[type=submit]")


class Clock:
    """A time source the console reads (app.extensions["console_clock"]), moved by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


class FakeIssuer:
    """An OpenID Connect provider on loopback: discovery, JWKS, an authorize endpoint that
    shows an approve link for `claims`, and a token endpoint issuing an RS256 ID token.

    Its URLs name `localhost` while the app is reached as 127.0.0.1, so that the redirect
    back is a cross-site navigation as with a real provider.
    """

    def __init__(self, client_id: str = "console") -> None:
        self.client_id = client_id
        self.client_secret = secrets.token_urlsafe(16)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)
        self.claims: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.token_requests = 0
        self.serving: Serving = serve_http(self._handler())
        self.url = f"http://localhost:{self.serving.port}"

    def __enter__(self) -> FakeIssuer:
        self.serving.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.serving.__exit__(*exc)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def id_token(self, nonce: str | None) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "sub": "user-1",
            **self.claims,
        }
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, body: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    return self._json(issuer.discovery())
                if url.path == "/jwks":
                    return self._json(issuer.jwks())
                if url.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    if query.get("client_id") != issuer.client_id:
                        return self._json({"error": "unauthorized_client"}, 400)
                    code = secrets.token_urlsafe(16)
                    issuer.codes[code] = {
                        "nonce": query.get("nonce"),
                        "redirect_uri": query["redirect_uri"],
                    }
                    back = urlencode({"code": code, "state": query.get("state", "")})
                    target = html.escape(f"{query['redirect_uri']}?{back}")
                    # A person approves on the provider's own page, as with a real provider:
                    # the way back is then a navigation started by another site.
                    page = f'<!doctype html><title>Provider</title><a id="approve" href="{target}">OK</a>'
                    data = page.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                return self._json({"error": "not_found"}, 404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                issuer.token_requests += 1
                basic = self.headers.get("Authorization", "")
                expected = base64.b64encode(
                    f"{issuer.client_id}:{issuer.client_secret}".encode()
                ).decode()
                if basic != f"Basic {expected}":
                    return self._json({"error": "invalid_client"}, 401)
                grant = issuer.codes.pop(form.get("code", ""), None)
                if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                    return self._json({"error": "invalid_grant"}, 400)
                return self._json(
                    {
                        "access_token": secrets.token_urlsafe(16),
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": issuer.id_token(grant["nonce"]),
                    }
                )

        return Handler


def console_app(tmp_path: Path, **overrides: Any) -> Flask:
    """The demo site plus a second site with a finished scan, for plain HTTP."""
    app = demo_app(tmp_path, CONSOLE_SECURE_COOKIE=False, **overrides)
    with app.app_context():
        apply(declaration("other-shop"))
        finish("other-shop", fake_report())
    app.extensions["console_clock"] = Clock()
    return app


def token(server: LiveServer, site: str | None, role: str) -> str:
    """A new API token of `role` for `site` (None: every site), its secret."""
    with server.app.app_context():
        return create_token(site, role, label=f"{role} {site or 'all'}")[1]
