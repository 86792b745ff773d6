"""The declaration file (site.yaml): schema, parser and helpers shared by scanner and server."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import isodate
import orjson
import yaml
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

SITE_KEY_RE = r"^[a-z0-9-]{3,64}$"
CATEGORY_KEY_RE = r"^[a-z][a-z0-9_-]{0,31}$"
LANGUAGE_RE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"
HOSTNAME_RE = re.compile(
    r"^(\*\.)?(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
TEXT_KEYS = (
    "title",
    "body",
    "accept_all",
    "reject_all",
    "settings",
    "save",
    "close",
    "policy_link",
    "settings_title",
    "settings_body",
    "always_on",
    "cookie_settings",
    "consent_id",
    "download_receipt",
    "choice_date",
    "gpc_note",
    "blocked",
    "allow",
    "col_name",
    "col_provider",
    "col_lifetime",
    "col_purpose",
    "session",
)
GOOGLE_CONSENT_TYPES = (
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
)
SEVERITIES = ("info", "low", "medium", "high", "critical")
PHASES = ("pre-consent", "after-reject", "after-accept")
MAX_TEXT = 5000

DEFAULT_CATEGORIES: list[dict[str, Any]] = [
    {
        "key": "necessary",
        "required": True,
        "title": {"sv": "Nödvändiga", "en": "Necessary"},
        "description": {
            "sv": "Behövs för att webbplatsen ska fungera och kan inte stängas av.",
            "en": "Needed for the website to work; they cannot be switched off.",
        },
        "google_consent_mode": ["security_storage"],
    },
    {
        "key": "preferences",
        "required": False,
        "title": {"sv": "Inställningar", "en": "Preferences"},
        "description": {
            "sv": "Kommer ihåg dina val, till exempel språk.",
            "en": "Remember your choices, such as language.",
        },
        "google_consent_mode": ["functionality_storage", "personalization_storage"],
    },
    {
        "key": "analytics",
        "required": False,
        "title": {"sv": "Statistik", "en": "Analytics"},
        "description": {
            "sv": "Hjälper oss att förstå hur webbplatsen används.",
            "en": "Help us understand how the website is used.",
        },
        "google_consent_mode": ["analytics_storage"],
    },
    {
        "key": "marketing",
        "required": False,
        "title": {"sv": "Marknadsföring", "en": "Marketing"},
        "description": {
            "sv": "Används för att visa relevanta annonser, även på andra webbplatser.",
            "en": "Used to show relevant ads, also on other websites.",
        },
        "google_consent_mode": ["ad_storage", "ad_user_data", "ad_personalization"],
    },
]

# The parts of a declaration a visitor is shown: a change here is a new revision and means
# visitors are asked again. Domains and scan settings are operational and change in place.
REVISION_FIELDS = (
    "name",
    "policy_url",
    "default_language",
    "languages",
    "consent_lifetime",
    "categories",
    "cookies",
    "texts",
)


class FullMatch(validate.Regexp):
    """validate.Regexp on the whole string: a trailing newline does not slip past `$`."""

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class DeclarationError(ValueError):
    """A declaration that does not validate; `errors` maps field paths to messages."""

    def __init__(self, errors: dict[str, list[str]], source: str | None = None) -> None:
        self.errors = errors
        self.source = source
        lines = [f"{path}: {'; '.join(msgs)}" for path, msgs in errors.items()]
        where = f"{source}: " if source else ""
        super().__init__(where + "invalid declaration\n  " + "\n  ".join(lines))


def parse_duration(value: str) -> dt.timedelta:
    """Parse an ISO-8601 duration such as P12M, P2Y, P90D or PT30M into a timedelta."""
    # fullmatch: no whitespace or trailing newline, which isodate's `$` would let through.
    if not isinstance(value, str) or not re.fullmatch(r"P[0-9YMWDTHS.,]+", value):
        raise ValueError(f"not an ISO-8601 duration: {value!r}")
    try:
        parsed = isodate.parse_duration(value)
        if isinstance(parsed, isodate.Duration):
            # Months and years have no fixed length; use the Gregorian averages for comparisons.
            days = float(parsed.years) * 365.2425 + float(parsed.months) * 30.436875
            parsed = parsed.tdelta + dt.timedelta(days=days)
    except OverflowError as exc:
        raise ValueError(f"duration out of range: {value!r}") from exc
    except isodate.ISO8601Error as exc:
        raise ValueError(f"not an ISO-8601 duration: {value!r}") from exc
    if parsed <= dt.timedelta(0):
        raise ValueError(f"duration must be positive: {value!r}")
    return parsed


def _validate_duration(value: str) -> None:
    try:
        parse_duration(value)
    except ValueError as exc:
        raise ValidationError(
            f"Must be an ISO-8601 duration such as P12M, P90D or PT30M; {exc}."
        ) from exc


def _validate_lifetime(value: str) -> None:
    if value != "session":
        _validate_duration(value)


def _validate_single_line(value: str) -> None:
    # The name is stored in a plain text column: PostgreSQL refuses NUL in text.
    if not value.isprintable():
        raise ValidationError("Must be one line of printable text (no control characters).")


def _validate_hostname(value: str) -> None:
    if not HOSTNAME_RE.fullmatch(value):
        raise ValidationError(f"Not a host name: {value!r}.")


def _validate_regex(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(f"Not a valid regular expression: {exc}.") from exc


CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def _validate_cron(value: str) -> None:
    from croniter import croniter

    fields_ = value.split()
    # croniter also reads a sixth (seconds) and seventh (year) field: a scan every second is
    # never meant, so only the classic five fields or a macro are taken.
    if value.strip().lower() not in CRON_MACROS and len(fields_) != 5:
        raise ValidationError(
            f"Not a cron expression of five fields (minute hour day month weekday): {value!r}."
        )
    if not value.isprintable() or not croniter.is_valid(value):
        raise ValidationError(f"Not a valid cron expression: {value!r}.")


# A --resolve host pattern: a host name in which "*" may stand for any part (as in Chromium's
# host-resolver rules). Spaces and commas would smuggle extra rules into Chromium's flag.
RESOLVE_HOST_RE = r"^[A-Za-z0-9*]([A-Za-z0-9*.-]{0,252})$"


def _validate_ip(value: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise ValidationError(f"Not an IP address: {value!r}.") from exc


def _validate_phases(value: list[str]) -> None:
    if not value:
        raise ValidationError("Give at least one phase.")
    if len(set(value)) != len(value):
        raise ValidationError("Duplicate phases.")


def _validate_timezone(value: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: name too long
        raise ValidationError(f"Unknown time zone: {value!r}.") from exc


def _localized(max_len: int = MAX_TEXT, **kwargs: Any) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(validate=FullMatch(LANGUAGE_RE, error="Not a language code.")),
        values=fields.String(validate=validate.Length(max=max_len)),
        **kwargs,
    )


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class CategorySchema(_Strict):
    """One purpose category."""

    key = fields.String(
        required=True,
        # The message is a str.format template: braces are doubled.
        validate=FullMatch(CATEGORY_KEY_RE, error="Must match [a-z][a-z0-9_-]{{0,31}}."),
    )
    required = fields.Boolean(load_default=None)
    title = _localized(200, load_default=dict)
    description = _localized(load_default=dict)
    google_consent_mode = fields.List(
        fields.String(validate=validate.OneOf(GOOGLE_CONSENT_TYPES)), load_default=list
    )


class CookieSchema(_Strict):
    """One declared cookie (or storage item), by exact name or by pattern."""

    name = fields.String(validate=validate.Length(min=1, max=256))
    name_pattern = fields.String(validate=[validate.Length(min=1, max=512), _validate_regex])
    domain = fields.String(validate=_validate_hostname)
    provider = fields.String(load_default="", validate=validate.Length(max=200))
    category = fields.String(required=True)
    lifetime = fields.String(load_default="session", validate=_validate_lifetime)
    purpose = _localized(load_default=dict)
    storage = fields.String(
        load_default="cookie", validate=validate.OneOf(["cookie", "local", "session"])
    )

    @validates_schema
    def _one_name(self, data: dict[str, Any], **_: Any) -> None:
        if ("name" in data) == ("name_pattern" in data):
            raise ValidationError("Give exactly one of name or name_pattern.", "name")


# Banner texts of one language; unknown keys are refused (marshmallow's default).
TextsSchema = Schema.from_dict(
    {key: fields.String(validate=validate.Length(max=MAX_TEXT)) for key in TEXT_KEYS},
    name="TextsSchema",
)


MAX_URL = 2048


class AlertsSchema(_Strict):
    """Where a scan's new findings are sent."""

    webhook = fields.Url(
        schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=MAX_URL)
    )
    email = fields.List(
        fields.Email(validate=validate.Length(max=254)),
        load_default=list,
        validate=validate.Length(max=20),
    )


class ScanSettingsSchema(_Strict):
    """The server's scheduled scans of this site."""

    url = fields.Url(
        schemes={"http", "https"},
        require_tld=False,
        required=True,
        validate=validate.Length(max=MAX_URL),
    )
    schedule = fields.String(validate=[validate.Length(max=120), _validate_cron])
    timezone = fields.String(load_default="UTC", validate=_validate_timezone)
    max_pages = fields.Integer(strict=True, load_default=50, validate=validate.Range(1, 10000))
    # A list, as it reads back from the JSON column: a tuple would never compare equal to the
    # stored value and every re-apply would report a change.
    phases = fields.List(
        fields.String(validate=validate.OneOf(PHASES)),
        load_default=lambda: list(PHASES),
        validate=_validate_phases,
    )
    policy_url = fields.Url(
        schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=MAX_URL)
    )
    fail_on = fields.String(load_default="high", validate=validate.OneOf(SEVERITIES))
    alerts = fields.Nested(AlertsSchema, load_default=dict)
    resolve = fields.Dict(
        keys=fields.String(
            validate=FullMatch(RESOLVE_HOST_RE, error="Not a host name or pattern such as *.test.")
        ),
        values=fields.String(validate=_validate_ip),
        load_default=dict,
        validate=validate.Length(max=50),
    )
    insecure = fields.Boolean(load_default=False)
    allow_private = fields.Boolean(load_default=False)


class DeclarationSchema(_Strict):
    """A whole site.yaml."""

    site = fields.String(
        required=True,
        validate=FullMatch(SITE_KEY_RE, error="Must be 3-64 characters of a-z, 0-9 and -."),
    )
    name = fields.String(
        required=True, validate=[validate.Length(min=1, max=200), _validate_single_line]
    )
    domains = fields.List(
        fields.String(validate=_validate_hostname),
        required=True,
        validate=validate.Length(min=1, max=100),
    )
    policy_url = fields.Url(schemes={"http", "https"}, require_tld=False, load_default=None)
    default_language = fields.String(
        load_default="en", validate=FullMatch(LANGUAGE_RE, error="Not a language code.")
    )
    languages = fields.List(
        fields.String(validate=FullMatch(LANGUAGE_RE, error="Not a language code.")),
        load_default=None,
    )
    consent_lifetime = fields.String(load_default="P12M", validate=_validate_duration)
    categories = fields.List(
        fields.Nested(CategorySchema), load_default=None, validate=validate.Length(max=32)
    )
    cookies = fields.List(
        fields.Nested(CookieSchema), load_default=list, validate=validate.Length(max=2000)
    )
    texts = fields.Dict(
        keys=fields.String(validate=FullMatch(LANGUAGE_RE, error="Not a language code.")),
        values=fields.Nested(TextsSchema),
        load_default=dict,
    )
    scan = fields.Nested(ScanSettingsSchema, load_default=None, allow_none=True)

    @pre_load
    def _lowercase_domains(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("domains"), list):
            data = dict(data)
            data["domains"] = [d.lower() if isinstance(d, str) else d for d in data["domains"]]
        return data

    @pre_load
    def _default_language_from_languages(self, data: Any, **_: Any) -> Any:
        # `languages: [sv]` alone means Swedish by default, not an error about English.
        if isinstance(data, dict) and "default_language" not in data:
            languages = data.get("languages")
            if isinstance(languages, list) and languages and isinstance(languages[0], str):
                data = dict(data)
                data["default_language"] = languages[0]
        return data

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, Any] = {}
        categories = data.get("categories") or DEFAULT_CATEGORIES
        keys = [c["key"] for c in categories]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            errors["categories"] = [f"Duplicate category keys: {', '.join(duplicates)}."]
        if "necessary" not in keys:
            errors.setdefault("categories", []).append("A 'necessary' category is required.")
        for i, cat in enumerate(categories):
            if cat["key"] == "necessary" and cat.get("required") is False:
                errors[f"categories.{i}.required"] = ["The necessary category is always required."]
        for i, cookie in enumerate(data.get("cookies") or []):
            if cookie.get("category") not in keys:
                errors[f"cookies.{i}.category"] = [
                    f"Unknown category {cookie.get('category')!r}; declared: {', '.join(keys)}."
                ]
        languages = data.get("languages") or [data.get("default_language", "en")]
        if data.get("default_language", "en") not in languages:
            errors["default_language"] = ["Must be one of languages."]
        if len(set(languages)) != len(languages):
            errors["languages"] = ["Duplicate languages."]
        for lang in data.get("texts") or {}:
            if lang not in languages:
                errors[f"texts.{lang}"] = [f"Language {lang!r} is not listed in languages."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _defaults(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if not data.get("categories"):
            data["categories"] = [dict(c) for c in DEFAULT_CATEGORIES]
        for cat in data["categories"]:
            cat["required"] = bool(cat.get("required")) or cat["key"] == "necessary"
        if not data.get("languages"):
            data["languages"] = [data["default_language"]]
        data["domains"] = list(dict.fromkeys(data["domains"]))
        return data


# Mapping fields: marshmallow reports their errors under "<entry>.key" / "<entry>.value", which
# _flatten folds into the entry's own path ("texts.en.titel", not "texts.en.value.titel").
_MAPPING_FIELDS = {"texts", "title", "description", "purpose", "resolve"}


def _flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        parts = prefix.split(".")
        in_mapping = len(parts) >= 2 and parts[-2] in _MAPPING_FIELDS
        for key, value in errors.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema" or (in_mapping and key in ("key", "value")):
                path = prefix or "(file)"
            for sub, msgs in _flatten(value, path).items():
                out.setdefault(sub, []).extend(msgs)
    elif isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        out[prefix or "(file)"] = list(errors)
    elif isinstance(errors, list):
        for i, value in enumerate(errors):
            out.update(_flatten(value, f"{prefix}.{i}"))
    else:
        out[prefix or "(file)"] = [str(errors)]
    return out


@dataclass(frozen=True)
class Declaration:
    """A validated declaration with its normalized content."""

    data: dict[str, Any]

    @property
    def site(self) -> str:
        """The site key."""
        return self.data["site"]

    def revision_content(self) -> dict[str, Any]:
        """The part shown to visitors, pinned by a revision."""
        return {k: self.data.get(k) for k in REVISION_FIELDS}

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of the revision content."""
        return content_hash(self.revision_content())

    def category_keys(self) -> list[str]:
        """The category keys in declared order."""
        return [c["key"] for c in self.data["categories"]]


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 hex digest of canonical JSON (sorted keys, no whitespace, UTF-8)."""
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def load_declaration(data: Any, source: str | None = None) -> Declaration:
    """Validate a declaration given as a mapping; raise DeclarationError naming every bad field."""
    if not isinstance(data, dict):
        raise DeclarationError({"(file)": ["The declaration must be a mapping of fields."]}, source)
    try:
        loaded = DeclarationSchema().load(data)
    except ValidationError as exc:
        raise DeclarationError(_flatten(exc.messages), source) from exc
    return Declaration(loaded)


def parse_declaration_text(text: str | bytes, source: str | None = None) -> Declaration:
    """Parse YAML (or JSON, which is YAML) text into a validated Declaration."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DeclarationError({"(file)": [f"Not UTF-8 text: {exc}."]}, source) from exc
    try:
        data = yaml.load(text, Loader=_DeclarationLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DeclarationError({"(file)": [f"Not valid YAML{where}: {problem}."]}, source) from exc
    except RecursionError as exc:
        raise DeclarationError({"(file)": ["The YAML is nested too deeply."]}, source) from exc
    problem = _unloadable(data, MAX_NODES)
    if problem:
        raise DeclarationError(dict([problem]), source)
    return load_declaration(data, source)


MAX_NODES = 200_000


class _DeclarationLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping key given twice instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable: SafeLoader reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"the key {key!r} appears twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _unloadable(data: Any, limit: int) -> tuple[str, list[str]] | None:
    """(path, [problem]) when loaded YAML cannot be taken as it is, else None.

    Aliases can make a small file expand into billions of values (or into a cycle), and a
    "\\ud800" escape makes a string no UTF-8 encoder (hashing, JSON, the database) accepts.
    """
    stack: list[tuple[str, Any]] = [("", data)]
    count = 0
    while stack:
        path, item = stack.pop()
        count += 1
        if count > limit:
            return "(file)", [f"The declaration expands to more than {limit} values."]
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return path or "(file)", ["Not Unicode text: a lone surrogate such as \\ud800."]
        elif isinstance(item, dict):
            for key, value in item.items():
                sub = f"{path}.{key}" if path else str(key)
                stack.append((path or "(file)", key))
                stack.append((sub, value))
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(item))
    return None


def read_declaration(path: str | Path) -> Declaration:
    """Read and validate a site.yaml file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DeclarationError(
            {"(file)": [f"Cannot read the file: {exc.strerror}."]}, str(path)
        ) from exc
    return parse_declaration_text(raw, str(path))
