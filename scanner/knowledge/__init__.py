"""Known cookies and storage keys: the bundled knowledge base, imports and fast lookups.

The bundled base (cookies.yaml next to this file) is written for this project. A user can
add their own entries (same YAML format, `KnowledgeBase.from_file`) or import the Open
Cookie Database CSV (`KnowledgeBase.from_open_cookie_database`), and put either in front
of the default with `KnowledgeBase.load_default().merge(user)`.
"""

from __future__ import annotations

import csv
import ipaddress
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from declaration.constants import PURPOSES, STORAGE_KINDS
from declaration.durations import parse_duration
from scanner.observe import public_suffix_list

__all__ = [
    "CATEGORIES",
    "OCD_CATEGORIES",
    "STORAGES",
    "KnowledgeBase",
    "KnowledgeEntry",
    "KnowledgeError",
    "is_ip",
    "normalize_host",
    "registrable_domain",
]

log = logging.getLogger(__name__)

CATEGORIES = PURPOSES
STORAGES = ("cookie", *STORAGE_KINDS)
# Open Cookie Database categories; any other category is skipped and counted.
OCD_CATEGORIES = {
    "functional": "preferences",
    "analytics": "analytics",
    "marketing": "marketing",
    "security": "necessary",
    "personalization": "preferences",
}
OCD_COLUMNS = (
    "ID",
    "Platform",
    "Category",
    "Cookie / Data Key name",
    "Domain",
    "Description",
    "Retention period",
    "Data Controller",
    "User Privacy & GDPR Rights Portals",
    "Wildcard match",
)
_ENTRY_KEYS = {
    "name",
    "pattern",
    "example",
    "vendor",
    "category",
    "lifetime",
    "storage",
    "domains",
    "description",
}
_HOST_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)
_DEFAULT_FILE = "cookies.yaml"


class KnowledgeError(ValueError):
    """A knowledge-base file that cannot be used; the message names the file and entry."""


# --- Domains -------------------------------------------------------------------------------


def normalize_host(host: str) -> str:
    """Lower case, without a leading or trailing dot, IPv6 brackets removed."""
    host = (host or "").strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.strip(".")


def is_ip(host: str) -> bool:
    """Whether the host is an IPv4 or IPv6 address (brackets allowed)."""
    try:
        ipaddress.ip_address(normalize_host(host))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=16384)
def registrable_domain(host: str) -> str:
    """The registrable domain ("site") of a host by the public suffix list.

    An IP address is its own site (in canonical form), and so is a host with no registrable
    domain such as `localhost` or a bare public suffix.
    """
    host = normalize_host(host)
    if not host:
        return host
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    return public_suffix_list().privatesuffix(host) or host


# --- Entries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnowledgeEntry:
    """One known cookie or storage key, by exact name or by an anchored pattern."""

    vendor: str
    category: str  # one of CATEGORIES
    name: str | None = None
    pattern: str | None = None
    lifetime: str | None = None  # "session", an ISO-8601 duration, or None (not known / storage)
    storage: str = "cookie"  # "cookie", "local", "session" or "indexeddb"
    domains: tuple[str, ...] = ()  # registrable domains, or "google.*"; empty = anywhere
    description: str = ""
    example: str | None = None
    source: str = "default"
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.pattern is not None and self.regex is None:
            object.__setattr__(self, "regex", re.compile(self.pattern))

    @property
    def key(self) -> str:
        """The name, or the pattern of a pattern entry."""
        return self.name if self.name is not None else str(self.pattern)

    def matches_name(self, name: str) -> bool:
        """Whether the entry is about this cookie name (domains not considered)."""
        if self.name is not None:
            return name == self.name
        return self.regex is not None and self.regex.fullmatch(name) is not None

    def applies_to(self, registrable: str | None) -> bool:
        """Whether the entry applies on this registrable domain (None: unknown domain)."""
        if not self.domains:
            return True
        if not registrable:
            return False
        for domain in self.domains:
            if domain.endswith(".*"):
                # google.* : "google" under any public suffix (google.com, google.co.uk, ...).
                if registrable.split(".", 1)[0] == domain[:-2] and "." in registrable:
                    return True
            elif registrable == domain:
                return True
        return False


def _check_lifetime(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise KnowledgeError(f"{where}: lifetime must be 'session' or an ISO-8601 duration")
    if value != "session":
        try:
            parse_duration(value)
        except ValueError as exc:
            raise KnowledgeError(f"{where}: {exc}") from exc
    return value


def _entry_from_mapping(raw: Any, where: str, source: str) -> KnowledgeEntry:
    """Validate one entry of the YAML format."""
    if not isinstance(raw, Mapping):
        raise KnowledgeError(f"{where}: an entry must be a mapping")
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise KnowledgeError(f"{where}: unknown fields {', '.join(sorted(map(str, unknown)))}")
    name, pattern = raw.get("name"), raw.get("pattern")
    if (name is None) == (pattern is None):
        raise KnowledgeError(f"{where}: give exactly one of name or pattern")
    label = f"{where} ({name if name is not None else pattern})"
    for key in ("name", "pattern", "example", "vendor", "description"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.isprintable()):
            raise KnowledgeError(f"{label}: {key} must be one line of text")
    if name == "" or pattern == "":
        raise KnowledgeError(f"{label}: name and pattern must not be empty")
    regex = None
    if pattern is not None:
        if not (pattern.startswith("^") and pattern.endswith("$")):
            raise KnowledgeError(f"{label}: a pattern must be anchored with ^...$")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise KnowledgeError(f"{label}: not a valid regular expression: {exc}") from exc
        example = raw.get("example")
        if example is not None and regex.fullmatch(example) is None:
            raise KnowledgeError(f"{label}: the example {example!r} does not match the pattern")
    vendor = raw.get("vendor")
    if not vendor:
        raise KnowledgeError(f"{label}: vendor is required")
    category = raw.get("category")
    if category not in CATEGORIES:
        raise KnowledgeError(f"{label}: category must be one of {', '.join(CATEGORIES)}")
    storage = raw.get("storage", "cookie")
    if storage not in STORAGES:
        raise KnowledgeError(f"{label}: storage must be one of {', '.join(STORAGES)}")
    domains = raw.get("domains") or []
    if not isinstance(domains, list) or not all(isinstance(d, str) and d for d in domains):
        raise KnowledgeError(f"{label}: domains must be a list of domain names")
    normalized = []
    for domain in domains:
        domain = normalize_host(domain)
        bare = domain[:-2] if domain.endswith(".*") else domain
        if not _HOST_RE.fullmatch(bare):
            raise KnowledgeError(f"{label}: not a domain name: {domain!r}")
        normalized.append(domain)
    return KnowledgeEntry(
        vendor=vendor,
        category=category,
        name=name,
        pattern=pattern,
        lifetime=_check_lifetime(raw.get("lifetime"), label),
        storage=storage,
        domains=tuple(normalized),
        description=raw.get("description") or "",
        example=raw.get("example"),
        source=source,
        regex=regex,
    )


# --- Open Cookie Database ------------------------------------------------------------------

_RETENTION_RE = re.compile(
    r"^(\d+)\s*(second|sec|minute|min|hour|hr|day|week|month|year|yr)s?$", re.IGNORECASE
)
_UNITS = {
    "second": "S",
    "sec": "S",
    "minute": "M",
    "min": "M",
    "hour": "H",
    "hr": "H",
    "day": "D",
    "week": "W",
    "month": "M",
    "year": "Y",
    "yr": "Y",
}


def _ocd_lifetime(text: str) -> str | None:
    """'2 years' -> 'P2Y', 'Session' -> 'session'; free text that does not parse -> None."""
    text = " ".join(text.split())
    match = _RETENTION_RE.fullmatch(text)
    if match:
        number, unit = int(match.group(1)), match.group(2).lower()
        if number <= 0:
            return None
        code = _UNITS[unit]
        return (
            f"PT{number}{code}" if code in "SH" or unit in ("minute", "min") else f"P{number}{code}"
        )
    if "session" in text.lower():
        return "session"
    return None


def _ocd_domains(text: str) -> tuple[str, ...]:
    """A Domain cell that is one plain host name limits the entry to that site.

    The cell is free text ("advertiser's website domain (1st party)", ...); anything but a
    single host name leaves the entry unrestricted.
    """
    host = normalize_host(text.replace("*.", ""))
    if host and _HOST_RE.fullmatch(host) and "." in host and not is_ip(host):
        return (registrable_domain(host),)
    return ()


# --- The knowledge base --------------------------------------------------------------------


class KnowledgeBase:
    """Known cookies, in layers: a merged-in layer takes precedence over the ones below it.

    `lookup` tries exact names before patterns; among exact names, an earlier layer before a
    later one and a domain-restricted entry before an unrestricted one; patterns go in
    layer order, then in file order. An entry of the asked storage is preferred; one of
    another storage is used only when none matches (the same key is often both a cookie and
    a localStorage item).
    """

    def __init__(
        self,
        entries: Iterable[KnowledgeEntry] = (),
        *,
        skipped: int = 0,
        warnings: Iterable[str] = (),
    ) -> None:
        self._layers: list[tuple[KnowledgeEntry, ...]] = [tuple(entries)]
        self.skipped = skipped  # rows or entries left out on import
        self.warnings = list(warnings)
        self._index()

    def _index(self) -> None:
        self._exact: dict[str, list[KnowledgeEntry]] = {}
        ranked: dict[str, list[tuple[int, int, int, KnowledgeEntry]]] = {}
        self._patterns: list[KnowledgeEntry] = []
        for layer, entries in enumerate(self._layers):
            for pos, entry in enumerate(entries):
                if entry.name is not None:
                    rank = (layer, 0 if entry.domains else 1, pos, entry)
                    ranked.setdefault(entry.name, []).append(rank)
                else:
                    self._patterns.append(entry)
        for name, items in ranked.items():
            items.sort(key=lambda item: item[:3])
            self._exact[name] = [item[3] for item in items]

    # Construction ------------------------------------------------------------------------

    @classmethod
    def empty(cls) -> KnowledgeBase:
        """A knowledge base that knows nothing (rules only)."""
        return cls()

    @classmethod
    def from_data(cls, data: Any, source: str = "user") -> KnowledgeBase:
        """Entries in the YAML format, given as `{"entries": [...]}` or as a list."""
        if isinstance(data, Mapping):
            data = data.get("entries")
        if not isinstance(data, list):
            raise KnowledgeError(f"{source}: expected a list of entries under 'entries'")
        entries = [
            _entry_from_mapping(raw, f"{source}: entry {i}", source) for i, raw in enumerate(data)
        ]
        return cls(entries)

    @classmethod
    def from_file(cls, path: str | Path, source: str | None = None) -> KnowledgeBase:
        """A knowledge base in this project's YAML format (see cookies.yaml)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KnowledgeError(f"{path}: cannot read the file: {exc}") from exc
        return cls._from_text(text, source or str(path))

    @classmethod
    def _from_text(cls, text: str, source: str) -> KnowledgeBase:
        try:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
        except yaml.YAMLError as exc:
            raise KnowledgeError(f"{source}: not valid YAML: {exc}") from exc
        return cls.from_data(data, source)

    @classmethod
    def load_default(cls) -> KnowledgeBase:
        """The bundled knowledge base (loaded once; knowledge bases are never changed)."""
        return _default()

    @classmethod
    def from_open_cookie_database(cls, path: str | Path) -> KnowledgeBase:
        """Import an Open Cookie Database CSV that the user supplies.

        Categories map Functional and Personalization to preferences, Analytics to
        analytics, Marketing to marketing and Security to necessary; rows of any other
        category (or without a name) are skipped and counted in `skipped`. "Wildcard match"
        1 makes the name a prefix. A Domain cell holding one host name limits the entry to
        that registrable domain.
        """
        path = Path(path)
        entries: list[KnowledgeEntry] = []
        warnings: list[str] = []
        source = "open-cookie-database"
        try:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                header = [(h or "").strip() for h in reader.fieldnames or []]
                missing = [
                    c for c in ("Platform", "Category", "Cookie / Data Key name") if c not in header
                ]
                if missing:
                    raise KnowledgeError(
                        f"{path}: not an Open Cookie Database CSV, missing {missing}"
                    )
                reader.fieldnames = header
                for line, row in enumerate(reader, start=2):
                    cell = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
                    name = cell.get("Cookie / Data Key name", "")
                    raw_category = cell.get("Category", "")
                    category = OCD_CATEGORIES.get(raw_category.lower())
                    if not name or not name.isprintable():
                        warnings.append(f"line {line}: no usable name")
                        continue
                    if category is None:
                        warnings.append(f"line {line}: {name}: unknown category {raw_category!r}")
                        continue
                    wildcard = cell.get("Wildcard match", "") == "1"
                    description = " ".join(cell.get("Description", "").split())
                    entries.append(
                        KnowledgeEntry(
                            vendor=cell.get("Platform") or cell.get("Data Controller") or "unknown",
                            category=category,
                            name=None if wildcard else name,
                            pattern=f"^{re.escape(name)}.*$" if wildcard else None,
                            lifetime=_ocd_lifetime(cell.get("Retention period", "")),
                            domains=_ocd_domains(cell.get("Domain", "")),
                            description=description,
                            example=name if wildcard else None,
                            source=source,
                        )
                    )
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise KnowledgeError(f"{path}: cannot read the CSV: {exc}") from exc
        if warnings:
            log.warning("%s: skipped %d of the rows (%s)", path, len(warnings), warnings[0])
        return cls(entries, skipped=len(warnings), warnings=warnings)

    def merge(self, other: KnowledgeBase) -> KnowledgeBase:
        """A new knowledge base in which `other`'s entries take precedence over these."""
        merged = KnowledgeBase()
        merged._layers = [*other._layers, *self._layers]
        merged.skipped = self.skipped + other.skipped
        merged.warnings = [*other.warnings, *self.warnings]
        merged._index()
        return merged

    # Queries -----------------------------------------------------------------------------

    @property
    def entries(self) -> list[KnowledgeEntry]:
        """Every entry, in precedence order of the layers."""
        return [entry for layer in self._layers for entry in layer]

    def __len__(self) -> int:
        return sum(len(layer) for layer in self._layers)

    def __iter__(self) -> Iterator[KnowledgeEntry]:
        return iter(self.entries)

    def lookup(
        self, name: str, domain: str | None = None, storage: str = "cookie"
    ) -> KnowledgeEntry | None:
        """The entry for a cookie (or storage key) `name` set on `domain`, or None.

        `domain` is the cookie's domain or the storage origin's host; entries limited to
        some domains match only when its registrable domain is one of them, and never when
        the domain is not given.
        """
        registrable = registrable_domain(domain) if domain else None
        candidates = self._exact.get(name, ())
        for same_storage in (True, False):
            for entry in candidates:
                if (entry.storage == storage) == same_storage and entry.applies_to(registrable):
                    return entry
            for entry in self._patterns:
                if (
                    (entry.storage == storage) == same_storage
                    and entry.regex is not None
                    and entry.regex.fullmatch(name) is not None
                    and entry.applies_to(registrable)
                ):
                    return entry
        return None

    def lookup_name(self, name: str, storage: str = "cookie") -> KnowledgeEntry | None:
        """The entry `lookup` would give for this name on one of its own domains, or None.

        For a known name seen somewhere else (a white-label host, an embed proxy): the
        caller decides how much that is worth.
        """
        candidates = [*self._exact.get(name, ()), *self._patterns]
        for same_storage in (True, False):
            for entry in candidates:
                if (entry.storage == storage) == same_storage and entry.matches_name(name):
                    return entry
        return None

    def vendors(self) -> set[str]:
        """Every vendor named in the knowledge base."""
        return {entry.vendor for entry in self.entries}


@lru_cache(maxsize=1)
def _default() -> KnowledgeBase:
    text = resources.files(__name__).joinpath(_DEFAULT_FILE).read_text(encoding="utf-8")
    return KnowledgeBase._from_text(text, f"scanner/knowledge/{_DEFAULT_FILE}")
