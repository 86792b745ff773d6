"""The marshmallow schema of the declaration file (site.yaml)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

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
from publicsuffixlist import PublicSuffixList

from declaration.constants import (
    CATEGORY_KEY_RE,
    CRON_MACROS,
    GOOGLE_CONSENT_TYPES,
    HOSTNAME_RE,
    LANGUAGE_RE,
    LAYOUTS,
    MAX_TEXT,
    MAX_URL,
    PHASES,
    REGION_KEYS,
    REGION_RULES,
    SEVERITIES,
    SITE_KEY_RE,
    STORAGE_KINDS,
    TEXT_KEYS,
)
from declaration.durations import parse_duration
from declaration.patterns import PatternError, compile_name_pattern, is_cookie_token

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


class FullMatch(validate.Regexp):
    """validate.Regexp on the whole string: a trailing newline does not slip past `$`."""

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


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


def _validate_name_pattern(value: str) -> None:
    # Patterns run on names a scanned site chose: only RE2 (linear time) runs them.
    try:
        compile_name_pattern(value)
    except PatternError as exc:
        raise ValidationError(f"Not a name pattern RE2 can run ({value[:60]!r}): {exc}.") from None


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
    name_pattern = fields.String(validate=[validate.Length(min=1), _validate_name_pattern])
    domain = fields.String(validate=_validate_hostname)
    provider = fields.String(load_default="", validate=validate.Length(max=200))
    category = fields.String(required=True)
    lifetime = fields.String(load_default="session", validate=_validate_lifetime)
    purpose = _localized(load_default=dict)
    storage = fields.String(
        load_default="cookie", validate=validate.OneOf(["cookie", *STORAGE_KINDS])
    )

    @validates_schema
    def _one_name(self, data: dict[str, Any], **_: Any) -> None:
        if ("name" in data) == ("name_pattern" in data):
            raise ValidationError("Give exactly one of name or name_pattern.", "name")

    @validates_schema
    def _cookie_name_is_a_token(self, data: dict[str, Any], **_: Any) -> None:
        # Storage keys are any string; a cookie's name is what a browser can send back.
        name = data.get("name")
        if data.get("storage", "cookie") == "cookie" and name and not is_cookie_token(name):
            raise ValidationError(
                f"Not a cookie name: {name[:60]!r} is not an RFC 6265 token "
                "(letters, digits and !#$%&'*+-.^_`|~ only).",
                "name",
            )


# Banner texts of one language; unknown keys are refused (marshmallow's default).
TextsSchema = Schema.from_dict(
    {key: fields.String(validate=validate.Length(max=MAX_TEXT)) for key in TEXT_KEYS},
    name="TextsSchema",
)


class BannerSchema(_Strict):
    """How the banner is presented."""

    layout = fields.String(
        load_default="bar",
        validate=validate.OneOf(LAYOUTS, error="Must be one of: bar, box, modal."),
    )


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


# Scan settings that only the server's operator sets (consent_server/config.py).
OPERATOR_ONLY_SCAN_SETTINGS = ("resolve", "insecure", "allow_private")


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

    @pre_load
    def _no_network_settings(self, data: Any, **_: Any) -> Any:
        # Where a scan may connect is the operator's decision: a site's own declaration
        # (editable with a token of that site) must not open the inside to its pages.
        if isinstance(data, dict):
            found = [name for name in OPERATOR_ONLY_SCAN_SETTINGS if name in data]
            if found:
                raise ValidationError(
                    {
                        name: [
                            f"{name} is operator-only (server configuration), not in a site's"
                            f' declaration: set SCAN_SITE_NETWORK["<site>"]["{name}"] or'
                            f" SCAN_{name.upper()} in the server's configuration."
                        ]
                        for name in found
                    }
                )
        return data


class RegionsSchema(_Strict):
    """What visitors get by where they are (the country comes from the operator's header)."""

    outside_eea = fields.String(load_default="banner", validate=validate.OneOf(REGION_RULES))


@lru_cache(maxsize=1)
def _public_suffixes() -> PublicSuffixList:
    # The ICANN and the private sections, as browsers read them: no cookie for all of github.io.
    return PublicSuffixList()


def cookie_domain_errors(cookie_domain: str, domains: list[str]) -> list[str]:
    """Why `cookie_domain` cannot carry the consent cookie of a site on `domains` (none: it can)."""
    if cookie_domain.startswith("*."):
        return ["Must be a domain, not a pattern."]
    try:
        ipaddress.ip_address(cookie_domain)
    except ValueError:
        pass
    else:
        return ["Must be a domain name: browsers set no Domain cookie on an IP address."]
    if _public_suffixes().is_public(cookie_domain):
        return [
            f"{cookie_domain!r} is a public suffix (publicsuffix.org): browsers refuse a cookie"
            " for all of it. Give the site's own registrable domain or one of its subdomains."
        ]
    outside = [
        d
        for d in domains
        if not (d.removeprefix("*.") + ".").endswith("." + cookie_domain + ".")
        and d.removeprefix("*.") != cookie_domain
    ]
    if outside:
        return [
            f"Every domain of the site must be {cookie_domain!r} or a subdomain of it; not:"
            f" {', '.join(outside)}."
        ]
    return []


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
    # Optional (no default): left out, it is not in the revision content (see loader).
    banner = fields.Nested(BannerSchema)
    # No load_default: absent fields stay out of the revision content (OPTIONAL_REVISION_FIELDS).
    cookie_domain = fields.String(validate=_validate_hostname)
    regions = fields.Nested(RegionsSchema)

    @pre_load
    def _lowercase_domains(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("domains"), list):
            data = dict(data)
            data["domains"] = [d.lower() if isinstance(d, str) else d for d in data["domains"]]
        if isinstance(data, dict) and isinstance(data.get("cookie_domain"), str):
            # ".example.se" is how Set-Cookie writes it; the leading dot means nothing more.
            data = dict(data)
            data["cookie_domain"] = data["cookie_domain"].lower().removeprefix(".")
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
        if data.get("cookie_domain") and data.get("domains"):
            problems = cookie_domain_errors(data["cookie_domain"], data["domains"])
            if problems:
                errors["cookie_domain"] = problems
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
        if data.get("regions") == {key: "banner" for key in REGION_KEYS}:
            # The default spelled out is the same revision as the default left out.
            del data["regions"]
        return data
