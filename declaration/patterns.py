"""Declared cookie-name patterns, checked and matched with RE2 (linear time, no backtracking).

A `name_pattern` is run on names a scanned site chose, by the scanner and by the server's
cookie-policy writer: a backtracking engine lets one pattern such as `^(a+)+$` and one long
name freeze the process, so every declared pattern meets a cookie name through this module.
"""

from __future__ import annotations

import re
from functools import lru_cache

import re2

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_PATTERN_LENGTH",
    "PatternError",
    "compile_name_pattern",
    "is_cookie_token",
    "name_matches",
]

MAX_PATTERN_LENGTH = 200
# Browsers keep at most 4096 bytes of name and value together: a longer name is no cookie.
MAX_NAME_LENGTH = 4096

# RFC 6265 section 4.1.1: cookie-name = token (RFC 2616): visible ASCII but separators.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

_OPTIONS = re2.Options()
# Refusals are reported to the declaration's author; RE2's own log would only repeat them.
_OPTIONS.log_errors = False

# \C matches one byte of a UTF-8 sequence: the str wrapper cannot map such a match back.
_ANY_BYTE = re.compile(r"(?<!\\)(?:\\\\)*\\C")

_REASONS = (
    (re.compile(r"invalid escape sequence: \\[1-9]"), "backreferences are not supported"),
    (re.compile(r"invalid perl operator: \(\?<?[=!]"), None),
    (re.compile(r"invalid escape sequence: \\Z"), r"\Z is not supported; use \z or $"),
    (re.compile(r"invalid repetition size"), "a repetition count above 1000 is not supported"),
)


class PatternError(ValueError):
    """A name pattern RE2 will not run; the message says why."""


def _reason(message: str) -> str:
    for regex, reason in _REASONS:
        if regex.search(message):
            if reason is None:
                kind = "lookbehind" if "(?<" in message else "lookahead"
                return f"{kind} is not supported"
            return reason
    return message


@lru_cache(maxsize=2048)
def compile_name_pattern(pattern: str) -> re2._Regexp:
    """The pattern compiled by RE2, or PatternError with the reason in words."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"longer than {MAX_PATTERN_LENGTH} characters")
    if _ANY_BYTE.search(pattern):
        raise PatternError(r"\C is not supported")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        raise PatternError(_reason(message)) from None
    except UnicodeEncodeError:
        raise PatternError("not valid Unicode text") from None


@lru_cache(maxsize=2048)
def _usable(pattern: str) -> re2._Regexp | None:
    try:
        return compile_name_pattern(pattern)
    except PatternError:
        return None


def name_matches(pattern: str, name: str) -> bool:
    """Whether the pattern finds the name (searched, as the banner's `RegExp.test` does).

    A pattern RE2 refuses, or a name longer than MAX_NAME_LENGTH, never matches.
    """
    if len(name) > MAX_NAME_LENGTH:
        return False
    regex = _usable(pattern)
    if regex is None:
        return False
    try:
        return regex.search(name) is not None
    except UnicodeEncodeError:  # a lone surrogate: no browser sends one in a cookie name
        return False


def is_cookie_token(name: str) -> bool:
    """Whether the name is an RFC 6265 cookie-name (a token) no longer than MAX_NAME_LENGTH."""
    return len(name) <= MAX_NAME_LENGTH and _TOKEN.fullmatch(name) is not None
