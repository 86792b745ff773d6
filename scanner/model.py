"""What a scan observes and concludes: plain dataclasses shared by engines, checks and reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from declaration.constants import PURPOSES

# A cookie the scanner cannot place in a purpose is "unknown".
CATEGORIES = (*PURPOSES, "unknown")
# How a report names each kind of storage besides cookies (declaration.constants.STORAGE_KINDS).
STORAGE_LABELS = {
    "local": "localStorage key",
    "session": "sessionStorage key",
    "indexeddb": "IndexedDB database",
}


@dataclass
class CookieEvent:
    """One attempt to set a cookie, as an engine saw it."""

    name: str
    value: str
    domain: str  # the cookie's domain (host for host-only cookies), without a leading dot
    path: str
    # "header" (Set-Cookie), "script" (document.cookie), "cookiestore"; "jar" for a cookie
    # found in the browser's jar that no observed write explains (a service worker's
    # CookieStore, for one): the analysis makes those, engines never do.
    source: str
    page_url: str  # top-level page being visited
    frame_url: str  # document that received the header or ran the script
    request_url: str | None = None  # response that carried the Set-Cookie header
    setter: str | None = None  # script URL that wrote the cookie (script and cookiestore)
    host_only: bool = True
    secure: bool = False
    http_only: bool = False
    same_site: str | None = None
    requested_seconds: float | None = None  # Max-Age/Expires as asked; None = session
    deletion: bool = False  # Max-Age<=0 or an expiry in the past
    refused: bool = False
    refused_reasons: list[str] = field(default_factory=list)
    raw: str | None = None  # the Set-Cookie line or the string assigned to document.cookie
    at: float = 0.0  # monotonic seconds when the engine saw it
    # Source "jar" only: whether the jar holds it with an expiry (the request is unknown).
    jar_persistent: bool = False


@dataclass
class StoredCookie:
    """A cookie in the browser's jar at the end of a page visit."""

    name: str
    value: str
    domain: str
    path: str
    expires: float | None  # epoch seconds; None = session
    secure: bool
    http_only: bool
    same_site: str | None


@dataclass
class StorageItem:
    """A localStorage or sessionStorage key, or an IndexedDB database (its name as the key)."""

    kind: str  # "local", "session" or "indexeddb"
    origin: str
    key: str
    value_length: int  # 0 for an IndexedDB database
    page_url: str
    frame_url: str


@dataclass
class RequestEvent:
    """One request a page made (a script, a pixel, a beacon, a fetch), as an engine saw it."""

    url: str
    type: str  # the browser's resource type, lower case: image, script, ping, fetch, xhr...
    page_url: str  # top-level page being visited
    frame_url: str  # document that made the request, where the engine knows it
    at: float = 0.0  # monotonic seconds when the engine saw it


@dataclass
class Screenshot:
    """The visible part of a page, as an image."""

    media_type: str  # image/jpeg or image/png
    data: bytes
    width: int
    height: int
    page_url: str


@dataclass
class PageVisit:
    """One page load in one phase, with everything seen during it."""

    url: str
    final_url: str
    status: int | None
    phase: str
    events: list[CookieEvent] = field(default_factory=list)
    jar: list[StoredCookie] = field(default_factory=list)
    storage: list[StorageItem] = field(default_factory=list)
    # storage_ident -> URL of the script that first wrote that key during this page load
    storage_setters: dict[str, str] = field(default_factory=dict)
    # Probe records beyond observe.MAX_RECORDS_PER_PAGE, dropped unread: a page that floods
    # the probe (it can call it itself) may hide its later writes, and the report says so.
    dropped_records: int = 0
    requests: list[RequestEvent] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    error: str | None = None
    elapsed_ms: float = 0.0


@dataclass
class BannerInfo:
    """What the scanner found of a consent banner in a phase."""

    found: bool = False
    kind: str | None = None  # "consent-manager" (ours), "generic", "selector"
    reject_on_first_layer: bool | None = None
    clicked: str | None = None  # the text or selector that was used
    error: str | None = None


@dataclass
class PhaseResult:
    """One phase: the pages it visited and the banner interaction."""

    phase: str
    pages: list[PageVisit] = field(default_factory=list)
    banner: BannerInfo = field(default_factory=BannerInfo)
    # Cookie identities (name, domain, path) -> value, taken just before the banner click.
    before_action: dict[str, str] = field(default_factory=dict)
    storage_before_action: list[str] = field(default_factory=list)
    action_at: float | None = None
    error: str | None = None
    # The start page as a person saw it: the banner before consent, the page after the click.
    screenshot: Screenshot | None = None


@dataclass
class Classification:
    """Category of a cookie and how it was decided."""

    category: str
    source: str  # "declared", "knowledge", "rule", "none"
    vendor: str | None = None
    declared_category: str | None = None
    declared_lifetime: str | None = None
    typical_lifetime: str | None = None
    description: str | None = None
    confidence: float = 0.0  # 0 to 1: how sure the scanner is of `category`
    reason: str | None = None  # why, in words a person can check
    # For an "unknown" cookie only: the likelier purpose, never acted on (findings, counts and
    # proposals treat the cookie as unknown); `reason` says what it rests on.
    guess: str | None = None


@dataclass
class CookieReport:
    """One distinct cookie (name, domain) across the scan."""

    name: str
    domain: str
    party: str  # "first" or "third"
    registrable_domain: str
    lifetime_class: str  # "session" or "persistent"
    requested_seconds: float | None
    stored_seconds: float | None
    classification: Classification
    phases: list[str]  # phases in which it was set (new or changed)
    refused: bool
    refused_reasons: list[str]
    sources: list[str]
    setters: list[str]
    pages: list[str]
    first_seen: dict[str, Any]


@dataclass
class Finding:
    """A place where the site breaks its declaration, its policy or the law."""

    type: str
    severity: str
    message: str
    cookie: str | None = None
    domain: str | None = None
    phase: str | None = None
    page: str | None = None
    setter: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


def to_dict(obj: Any) -> Any:
    """Dataclasses to plain JSON-ready structures."""
    return asdict(obj)
