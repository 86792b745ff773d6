"""Servers on loopback, each serving from its own thread while in a `with` block."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseServer

from flask import Flask
from werkzeug.serving import make_server


class Serving:
    """Runs a server's serve_forever in a daemon thread; stops and closes it on exit."""

    def __init__(self, server: BaseServer) -> None:
        self.server = server
        self.port: int = server.server_address[1]  # type: ignore[index]
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """http://127.0.0.1:port"""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Serving:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def serve_http(handler: type[BaseHTTPRequestHandler]) -> Serving:
    """A threaded plain HTTP server on 127.0.0.1 (any free port) for a request handler."""
    return Serving(ThreadingHTTPServer(("127.0.0.1", 0), handler))


class LiveServer(Serving):
    """A real threaded HTTP server on loopback serving the app."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        super().__init__(make_server("127.0.0.1", 0, app, threaded=True))

    def __enter__(self) -> LiveServer:
        super().__enter__()
        return self


def answer(
    handler: BaseHTTPRequestHandler,
    body: bytes,
    content_type: str,
    headers: tuple[tuple[str, str], ...] = (),
) -> None:
    """Send a 200 response with `body` from a request handler."""
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def serve_html(body: str, headers: tuple[tuple[str, str], ...] = ()) -> Serving:
    """A plain HTTP server on 127.0.0.1 answering every GET with one HTML page."""
    data = body.encode("utf-8")

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer(self, data, "text/html; charset=utf-8", headers)

        def log_message(self, *args: object) -> None:
            pass

    return serve_http(Page)
