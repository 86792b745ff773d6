"""Scan settings as one validated dataclass, shared by the command line, the API and the server."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from declaration.constants import PHASES, RESOLVE_HOST_RE, SEVERITIES


class ScanError(Exception):
    """A scan that cannot run or could not finish; the command exits with status 2."""


def default_chromium() -> str:
    """The system Chromium (CONSENT_CHROMIUM overrides)."""
    return os.environ.get("CONSENT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def default_chromedriver() -> str:
    """The system ChromeDriver (CONSENT_CHROMEDRIVER overrides)."""
    return (
        os.environ.get("CONSENT_CHROMEDRIVER")
        or shutil.which("chromedriver")
        or "/usr/bin/chromedriver"
    )


@dataclass
class ScanConfig:
    """Everything a scan needs; `validate()` checks it before any browser starts."""

    url: str
    engine: str = "playwright"
    chromium: str = field(default_factory=default_chromium)
    chromedriver: str = field(default_factory=default_chromedriver)
    remote: str | None = None
    max_pages: int = 20
    depth: int = 3
    concurrency: int = 3
    page_timeout: float = 30.0
    total_timeout: float = 600.0
    settle_ms: int = 1500
    phases: tuple[str, ...] = PHASES
    accept_selector: str | None = None
    reject_selector: str | None = None
    resolve: dict[str, str] = field(default_factory=dict)
    insecure: bool = False
    allow_private: bool = False
    # Host patterns (as in resolve; "host:port" for one port) that may resolve to a private
    # address when allow_private is off: the operator's own site on an internal address,
    # while everything its pages point at is still checked.
    private_hosts: tuple[str, ...] = ()
    # The address the scan's network guard listens on and the browser is told to use: a
    # remote WebDriver Grid needs one of this machine's addresses it can reach.
    proxy_host: str = "127.0.0.1"
    # Chromium's sandbox: None = on unless the process runs as root (see engines.base).
    sandbox: bool | None = None
    use_sitemap: bool = True
    # One screenshot of the start page per phase in the report (docs/scan-report.md).
    screenshots: bool = True
    locale: str = "sv-SE"
    fail_on: str = "high"

    def validate(self) -> None:
        """Raise ScanError when a setting is unusable."""
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ScanError(f"Not an http(s) URL: {self.url!r}")
        if self.engine not in ("playwright", "selenium"):
            raise ScanError("--engine must be playwright or selenium")
        if self.remote and self.engine != "selenium":
            raise ScanError("--remote needs --engine selenium")
        unknown = [p for p in self.phases if p not in PHASES]
        if unknown or not self.phases:
            raise ScanError(
                f"Unknown phases: {', '.join(unknown)}; choose from {', '.join(PHASES)}"
            )
        if self.fail_on not in SEVERITIES:
            raise ScanError(f"--fail-on must be one of {', '.join(SEVERITIES)}")
        for name in ("max_pages", "depth", "concurrency"):
            if getattr(self, name) < (0 if name == "depth" else 1):
                raise ScanError(f"--{name.replace('_', '-')} is too small")
        for option, value in (
            ("--page-timeout", self.page_timeout),
            ("--timeout", self.total_timeout),
        ):
            if not value > 0:  # also NaN
                raise ScanError(f"{option} must be a positive number of seconds")
        if self.settle_ms < 0:
            raise ScanError("--wait must not be negative")
        for host, ip in self.resolve.items():
            if not isinstance(host, str) or not re.fullmatch(RESOLVE_HOST_RE, host):
                raise ScanError(f"--resolve {host!r}: not a host name or pattern such as *.test")
            try:
                address = ipaddress.ip_address(ip)
            except ValueError as exc:
                raise ScanError(f"--resolve {host}={ip}: not an IP address") from exc
            # A mapping is the operator naming an address: to the inside only when allowed.
            problem = address_problem(host, address)
            if problem and not self.private_allowed(host):
                raise ScanError(
                    f"--resolve {host}={ip}: {problem}; this needs allow_private"
                    " (--allow-private, or the operator's allow_private for the site)"
                )
        local = self.engine == "playwright" or not self.remote
        if local and not os.path.exists(self.chromium):
            raise ScanError(f"Chromium not found at {self.chromium} (set --chromium)")
        if self.engine == "selenium" and not self.remote and not os.path.exists(self.chromedriver):
            raise ScanError(f"ChromeDriver not found at {self.chromedriver} (set --chromedriver)")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not self.private_allowed(parts.hostname or "", port):
            check_public_target(self.url, self.resolve)

    def private_allowed(self, host: str, port: int | None = None) -> bool:
        """Whether a host (on a port; None = on some port) may have a non-public address."""
        if self.allow_private:
            return True
        host = host.lower().strip("[]")
        for pattern in self.private_hosts:
            name, sep, only = pattern.lower().rpartition(":")
            if not (sep and only.isdigit()):
                name, only = pattern.lower(), ""
            if fnmatchcase(host, name) and (not only or port is None or int(only) == port):
                return True
        return False


def resolve_host(host: str, mapping: dict[str, str]) -> list[str]:
    """Addresses of a host, honouring --resolve mappings (wildcards as Chromium reads them)."""
    host = host.lower()
    for pattern, ip in mapping.items():
        # fnmatchcase: "*" matches across dots, as in Chromium's rules (*.test covers
        # shop.test and a.b.test, never the bare "test"); host names ignore case.
        if fnmatchcase(host, pattern.lower()):
            return [ip]
    try:
        ipaddress.ip_address(host.strip("[]"))
        return [host.strip("[]")]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise ScanError(f"Cannot resolve {host}: {exc.strerror}") from exc
    return sorted({info[4][0] for info in infos})


def address_problem(host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a host's address is not public (private, loopback, link-local...), or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    # is_global is False for private, loopback, link-local, reserved, unspecified and
    # shared (100.64/10) ranges; multicast is global in places but never a web server.
    if not ip.is_global or ip.is_multicast:
        return f"{host} resolves to {ip}, a private, loopback or link-local address"
    return None


def host_addresses(host: str, mapping: dict[str, str]) -> tuple[list[str], str | None]:
    """A host's addresses and why they are not public (None when all are public).

    The one guard against requests to the inside (SSRF): the scan's network guard checks every
    browser request with it, non_public_address every other target. Raises ScanError when the
    host does not resolve.
    """
    host = host.lower().strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return resolve_host(host, mapping), f"{host} is a loopback target"
    addresses = resolve_host(host, mapping)
    for address in addresses:
        problem = address_problem(host, ipaddress.ip_address(address.split("%", 1)[0]))
        if problem:
            return addresses, problem
    return addresses, None


def non_public_address(url: str, mapping: dict[str, str] | None = None) -> str | None:
    """Why a URL's host is not a public address (loopback name, private IP...), or None.

    Used by the scanner for its targets and by the consent server for webhooks. Raises
    ScanError when the host does not resolve.
    """
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is a loopback target"
    return host_addresses(host, mapping or {})[1]


def check_public_target(url: str, mapping: dict[str, str]) -> None:
    """Refuse private, loopback, link-local and reserved targets (SSRF protection)."""
    problem = non_public_address(url, mapping)
    if problem:
        raise ScanError(f"{problem}; pass --allow-private to scan it")
