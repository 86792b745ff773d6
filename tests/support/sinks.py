"""Where alerts go in tests: a webhook receiver over HTTP and an SMTP server, both on loopback."""

from __future__ import annotations

import queue
import socket
import ssl
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.live import Serving, serve_http


class WebhookReceiver:
    """A real HTTP server on loopback that records POSTs; answers `statuses` in turn, then 200.

    With `tls` (a server-side SSL context) it speaks HTTPS and records the SNI names clients
    sent in `server_names`.
    """

    def __init__(self, statuses: tuple[int, ...] = (), tls: ssl.SSLContext | None = None) -> None:
        self.statuses = list(statuses)
        self.requests: queue.Queue[tuple[dict[str, str], bytes, int]] = queue.Queue()
        self.server_names: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.put(
                    ({k.lower(): v for k, v in self.headers.items()}, body, status)
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.serving: Serving = serve_http(Handler)
        self.url = f"{self.serving.url}/hooks/consent"
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: receiver.server_names.append(name)
            server = self.serving.server
            # The handshake happens in the handler's thread, not in the accepting loop.
            server.socket = tls.wrap_socket(  # type: ignore[attr-defined]
                server.socket,  # type: ignore[attr-defined]
                server_side=True,
                do_handshake_on_connect=False,
            )
            self.url = self.url.replace("http://", "https://", 1)

    def __enter__(self) -> WebhookReceiver:
        self.serving.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.serving.__exit__(*exc)

    def next(self, timeout: float = 30) -> tuple[dict[str, str], bytes, int]:
        """The next request received (headers, body, status answered)."""
        return self.requests.get(timeout=timeout)

    def nothing_more(self) -> bool:
        """True when no further request has arrived."""
        return self.requests.empty()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MailSink:
    """A real SMTP server (aiosmtpd) on loopback collecting messages."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: queue.Queue[Any] = queue.Queue()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.messages.put((envelope.rcpt_tos, message_from_bytes(envelope.content)))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> MailSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def next(self, timeout: float = 30) -> tuple[list[str], Any]:
        """The next message received (recipients, message)."""
        return self.messages.get(timeout=timeout)
