"""A declaration proposed from what a scan found."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from consent_server.clock import as_utc
from consent_server.extensions import db
from consent_server.scans.models import Scan
from consent_server.scans.queue import DONE
from consent_server.scans.results import ScanNotFinished, _host
from consent_server.sites.models import SiteRevision
from declaration.patterns import is_cookie_token

# -- proposed declaration --------------------------------------------------------------------


def iso_lifetime(seconds: float | None) -> str:
    """A requested lifetime as the declaration writes it (rounded up): session, PT30M, P90D, P2Y."""
    if seconds is None:
        return "session"
    total = max(1, math.ceil(seconds - 1e-6))
    if total >= 86400:
        days = math.ceil(total / 86400 - 1e-9)
        return f"P{days // 365}Y" if days % 365 == 0 else f"P{days}D"
    if total >= 3600:
        return f"PT{math.ceil(total / 3600)}H"
    if total >= 60:
        return f"PT{math.ceil(total / 60)}M"
    return f"PT{total}S"


class _Dumper(yaml.SafeDumper):
    """safe_dump that writes a string with a line break or control character double-quoted."""


# In double quotes a break becomes an escape (\n, \L, \N): no output line can end inside a
# scanned name, so none can close the comment it is in or start a key of its own.
def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = None if value.isprintable() else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _dump(data: Any, **options: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, **options)


@dataclass
class _Proposal:
    entries: list[dict[str, Any]] = field(default_factory=list)
    unsure: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    not_tokens: int = 0


def propose_declaration(scan: Scan) -> str:
    """A YAML patch for the owner to review: the undeclared cookies and storage keys the scan saw.

    Each becomes a `cookies:` entry with its observed category and requested lifetime;
    those the scanner could not put in one of the site's categories are left commented out.
    """
    if scan.status != DONE or not scan.report:
        raise ScanNotFinished(scan.id)
    report = scan.report
    rev = db.session.get(SiteRevision, scan.revision_id) if scan.revision_id else None
    categories = [c["key"] for c in (rev.content["categories"] if rev else [])] or [
        "necessary",
        "preferences",
        "analytics",
        "marketing",
    ]
    site = scan.site
    proposal = _Proposal()

    def add(entry: dict[str, Any], category: str, cls: dict[str, Any]) -> None:
        if cls.get("description"):
            entry["purpose"] = {"en": cls["description"]}
        if category in categories:
            entry["category"] = category
            entry = _ordered(entry)
            proposal.entries.append(entry)
        else:
            why = (
                "not classified"
                if category == "unknown"
                else f"category {category} is not declared"
            )
            # The scanner's best guess is a hint for the owner, never a proposed category.
            if category == "unknown" and cls.get("guess") in categories:
                why += f" (best guess: {cls['guess']})"
            proposal.unsure.append((_ordered(entry), why))

    for c in report.get("cookies") or []:
        cls = c.get("classification") or {}
        if cls.get("source") == "declared":
            continue
        if not is_cookie_token(c["name"]):
            # A declaration refuses such a name: counted, not proposed (nor echoed).
            proposal.not_tokens += 1
            continue
        entry: dict[str, Any] = {"name": c["name"]}
        if c.get("party") == "third":
            entry["domain"] = c["domain"]
        entry["provider"] = cls.get("vendor") or (
            site.name if c.get("party") == "first" else c.get("registrable_domain") or c["domain"]
        )
        asked = c.get("requested_seconds")
        if asked is None and c.get("lifetime_class") == "persistent":
            # Seen only in the jar: what it had left is the least it asked for.
            asked = c.get("stored_seconds")
        entry["lifetime"] = iso_lifetime(asked)
        add(entry, cls.get("category") or "unknown", cls)
    for s in report.get("storage") or []:
        cls = s.get("classification") or {}
        if cls.get("source") == "declared":
            continue
        entry = {"name": s["key"], "storage": s["kind"]}
        host = _host(s.get("origin") or "")
        if s.get("party") == "third" and host:
            entry["domain"] = host
        entry["provider"] = cls.get("vendor") or (site.name if s.get("party") == "first" else host)
        # sessionStorage ends with the tab; localStorage and IndexedDB keep until removed: say
        # how long.
        entry["lifetime"] = (
            "session" if s["kind"] == "session" else (cls.get("typical_lifetime") or "P1Y")
        )
        add(entry, cls.get("category") or "unknown", cls)

    when = as_utc(scan.finished_at)
    lines = [
        f"# Proposed additions to the declaration of {site.key}, from scan {scan.id}"
        + (f" ({when:%Y-%m-%d %H:%M} UTC)" if when else "")
        + ".",
        "# Review every entry before adding it to the `cookies:` list of site.yaml: categories",
        "# come from the scanner's knowledge base or its rules, lifetimes are what the site asked",
        "# for (rounded up), purposes are the knowledge base's English descriptions.",
    ]
    if proposal.not_tokens:
        lines.append(
            f"# Left out: {proposal.not_tokens} cookie(s) whose names are not RFC 6265 tokens."
        )
    if not proposal.entries and not proposal.unsure:
        lines.append("# Nothing to add: every cookie and storage key the scan saw is declared.")
        lines.append("cookies: []")
        return "\n".join(lines) + "\n"
    body = _dump({"cookies": proposal.entries}, width=100)
    lines.append(body.rstrip("\n") if proposal.entries else "cookies: []")
    if proposal.unsure:
        lines.append("# Choose a category for these, then move them into the list above:")
        for entry, why in proposal.unsure:
            # One line however long: a folded line would fall out of the comment.
            flow = _dump([entry], default_flow_style=True, width=float("inf")).strip()
            lines.append(f"#   {flow[1:-1]}  # {why}")
    return "\n".join(lines) + "\n"


def _ordered(entry: dict[str, Any]) -> dict[str, Any]:
    order = ("name", "storage", "domain", "provider", "category", "lifetime", "purpose")
    return {k: entry[k] for k in order if k in entry}
