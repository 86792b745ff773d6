"""The scan's network guard: a small forward proxy every browser request of a scan goes through.

Chromium is told to send everything to it (loopback included, QUIC off), so redirects, crawled
links, subresources, iframes, fetches, WebSockets and the policy page are all checked, not only
the start URL. For each request the guard resolves the host itself (honouring the operator's
resolve map), refuses private, loopback, link-local and reserved addresses unless the operator
allowed them (scanner.config.host_addresses, the one guard), and connects to exactly the
address it checked, so a name cannot resolve to one address for the check and another for the
request (DNS rebinding). HTTPS goes through CONNECT tunnels without interception: Chromium
still verifies certificates. A refused request is answered 403 and recorded in `blocked`.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

from scanner.config import ScanConfig, ScanError, host_addresses

# Bytes of a request head (request line and headers) the guard reads at most.
MAX_HEAD = 64 * 1024
# Seconds a connection may stay silent in both directions before the guard closes it.
IDLE_SECONDS = 120.0
CONNECT_SECONDS = 15.0
# The most blocked requests a report lists (a page retrying in a loop must not fill it).
MAX_BLOCKED = 500
# Hop-by-hop headers a forward proxy must not pass on (RFC 9110 7.6.1), and its own ones.
HOP_HEADERS = {
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"upgrade",
}


class NetGuard:
    """The filtering proxy of one scan: one listening port per phase, so blocks name their phase."""

    def __init__(self, config: ScanConfig) -> None:
        self.config = config
        self.blocked: list[dict[str, Any]] = []
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._listeners: dict[str, socket.socket] = {}
        self._open: set[socket.socket] = set()
        self._closed = False

    def __enter__(self) -> NetGuard:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- what the browsers use ------------------------------------------------------------------

    def port(self, phase: str) -> int:
        """The port of the phase's listener (opened on first use)."""
        with self._lock:
            if self._closed:
                raise ScanError("the scan's network guard is closed")
            listener = self._listeners.get(phase)
            if listener is None:
                try:
                    listener = socket.create_server((self.config.proxy_host, 0), backlog=128)
                except OSError as exc:
                    raise ScanError(
                        f"the network guard cannot listen on {self.config.proxy_host}: {exc}"
                    ) from exc
                self._listeners[phase] = listener
                threading.Thread(
                    target=self._accept,
                    args=(listener, phase),
                    name=f"netguard-{phase}",
                    daemon=True,
                ).start()
            return listener.getsockname()[1]

    def proxy_url(self, phase: str) -> str:
        """http://host:port of the phase's listener, for --proxy-server."""
        host = self.config.proxy_host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port(phase)}"

    def chromium_args(self, phase: str) -> list[str]:
        """Chromium switches that send every request of the browser through the guard."""
        return [
            f"--proxy-server={self.proxy_url(phase)}",
            # Chromium sends loopback straight to the host unless told otherwise.
            "--proxy-bypass-list=<-loopback>",
            # WebRTC's UDP would go around any HTTP proxy.
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        ]

    def blocked_for(self, phase: str) -> list[dict[str, Any]]:
        """The requests refused for one phase."""
        with self._lock:
            return [b for b in self.blocked if b["phase"] == phase]

    def close(self) -> None:
        """Stop listening and end every open connection."""
        with self._lock:
            self._closed = True
            sockets = [*self._listeners.values(), *self._open]
            self._listeners.clear()
            self._open.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    # -- the check ---------------------------------------------------------------------------

    def check(self, host: str, port: int) -> tuple[list[str], str | None]:
        """The addresses to connect to, and why the host is refused (None when allowed)."""
        try:
            addresses, problem = host_addresses(host, self.config.resolve)
        except ScanError as exc:
            return [], str(exc)
        if problem and self.config.private_allowed(host, port):
            problem = None
        return addresses, problem

    def _record(self, phase: str, url: str, host: str, addresses: list[str], reason: str) -> None:
        with self._lock:
            if (url, phase) in self._seen or len(self.blocked) >= MAX_BLOCKED:
                return
            self._seen.add((url, phase))
            self.blocked.append(
                {
                    "url": url,
                    "host": host,
                    "address": addresses[0] if addresses else None,
                    "reason": reason,
                    "phase": phase,
                }
            )

    # -- serving ---------------------------------------------------------------------------

    def _accept(self, listener: socket.socket, phase: str) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self._open.add(conn)
            threading.Thread(
                target=self._serve, args=(conn, phase), name="netguard-conn", daemon=True
            ).start()

    def _forget(self, *socks: socket.socket | None) -> None:
        for sock in socks:
            if sock is None:
                continue
            with self._lock:
                self._open.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _serve(self, conn: socket.socket, phase: str) -> None:
        upstream = None
        try:
            conn.settimeout(IDLE_SECONDS)
            head, rest = _read_head(conn)
            if head is None:
                return
            lines = head.split(b"\r\n")
            try:
                method, target, version = lines[0].decode("latin-1").split(" ", 2)
            except ValueError:
                _answer(conn, 400, "Bad Request", "not an HTTP request")
                return
            if method == "CONNECT":
                host, port = _host_port(target, 443)
                url = f"https://{_netloc(host, port, 443)}/"
            else:
                parts = urlsplit(target)
                if parts.scheme != "http" or not parts.hostname:
                    _answer(conn, 400, "Bad Request", "the guard forwards http:// URLs only")
                    return
                host, port = parts.hostname, parts.port or 80
                url = target
            if not host or port is None:
                _answer(conn, 400, "Bad Request", "no host")
                return
            addresses, problem = self.check(host, port)
            if problem:
                if addresses:  # an unresolvable name is an error, not a block
                    self._record(phase, url, host.lower().strip("[]"), addresses, problem)
                    _answer(
                        conn, 403, "Forbidden", f"blocked by the scan's network guard: {problem}"
                    )
                else:
                    _answer(conn, 502, "Bad Gateway", problem)
                return
            upstream = self._connect(addresses, port)
            if upstream is None:
                _answer(conn, 502, "Bad Gateway", f"cannot connect to {host}:{port}")
                return
            with self._lock:
                self._open.add(upstream)
            if method == "CONNECT":
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                _relay(conn, upstream)
            else:
                upstream.sendall(_origin_request(method, target, version, lines[1:]) + rest)
                _relay(conn, upstream, rewrite_head=True)
        except OSError:
            pass
        finally:
            self._forget(conn, upstream)

    @staticmethod
    def _connect(addresses: list[str], port: int) -> socket.socket | None:
        """A connection to the first checked address that answers."""
        for address in addresses:
            try:
                sock = socket.create_connection((address, port), timeout=CONNECT_SECONDS)
            except OSError:
                continue
            sock.settimeout(IDLE_SECONDS)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        return None


def _read_head(conn: socket.socket) -> tuple[bytes | None, bytes]:
    """The request head (without the blank line) and whatever bytes followed it."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD:
            _answer(conn, 431, "Request Header Fields Too Large", "head too large")
            return None, b""
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _host_port(target: str, default: int) -> tuple[str, int | None]:
    """host and port of a CONNECT target (host:port, [v6]:port)."""
    try:
        parts = urlsplit(f"//{target}")
        return parts.hostname or "", parts.port or default
    except ValueError:
        return "", None


def _netloc(host: str, port: int, default: int) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if port == default else f"{name}:{port}"


def _origin_request(method: str, target: str, version: str, headers: list[bytes]) -> bytes:
    """The request as the origin server expects it: origin-form, one request, then close."""
    parts = urlsplit(target)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kept = [h for h in headers if h.split(b":", 1)[0].strip().lower() not in HOP_HEADERS]
    out = [f"{method} {path} {version}".encode("latin-1"), *kept, b"Connection: close"]
    return b"\r\n".join(out) + b"\r\n\r\n"


def _close_head(head: bytes) -> bytes:
    """A response head that tells the browser the connection ends with this response."""
    lines = head.split(b"\r\n")
    kept = [lines[0]]
    kept += [h for h in lines[1:] if h.split(b":", 1)[0].strip().lower() not in HOP_HEADERS]
    # Upgrade (WebSocket over plain http) keeps its headers: the tunnel then stays open.
    if b" 101 " in lines[0] + b" ":
        return head + b"\r\n\r\n"
    return b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n"


def _answer(conn: socket.socket, status: int, reason: str, text: str) -> None:
    body = text.encode("utf-8", "replace")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    with contextlib.suppress(OSError):
        conn.sendall(head + body)


def _relay(client: socket.socket, upstream: socket.socket, *, rewrite_head: bool = False) -> None:
    """Copy bytes both ways until the server closes (or both sides are quiet too long)."""
    head = b"" if rewrite_head else None
    sel = selectors.DefaultSelector()
    sel.register(client, selectors.EVENT_READ, upstream)
    sel.register(upstream, selectors.EVENT_READ, client)
    try:
        while True:
            events = sel.select(IDLE_SECONDS)
            if not events:
                return
            for key, _ in events:
                src: socket.socket = key.fileobj  # type: ignore[assignment]
                dst: socket.socket = key.data
                data = src.recv(65536)
                if not data:
                    if src is upstream:
                        if head:
                            client.sendall(head)
                        return
                    # The browser is done sending; the answer may still be on its way.
                    sel.unregister(client)
                    with contextlib.suppress(OSError):
                        upstream.shutdown(socket.SHUT_WR)
                    continue
                if src is upstream and head is not None:
                    head += data
                    if b"\r\n\r\n" not in head:
                        if len(head) > MAX_HEAD:
                            client.sendall(head)
                            head = None
                        continue
                    first, _, body = head.partition(b"\r\n\r\n")
                    data, head = _close_head(first) + body, None
                dst.sendall(data)
    finally:
        sel.close()
