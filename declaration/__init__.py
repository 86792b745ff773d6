"""The declaration file (site.yaml): the contract shared by the consent server and the scanner.

Neither side owns it: `consent_server` applies a declaration to a site, `scanner` compares a
site with one, and both read it through this package. It needs no Flask and no browser.
"""

from __future__ import annotations

from declaration.constants import PHASES, SEVERITIES, SITE_KEY_RE, TEXT_KEYS
from declaration.durations import parse_duration
from declaration.loader import (
    Declaration,
    DeclarationError,
    load_declaration,
    parse_declaration_text,
    read_declaration,
)

__all__ = [
    "PHASES",
    "SEVERITIES",
    "SITE_KEY_RE",
    "TEXT_KEYS",
    "Declaration",
    "DeclarationError",
    "load_declaration",
    "parse_declaration_text",
    "parse_duration",
    "read_declaration",
]
