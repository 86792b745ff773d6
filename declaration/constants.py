"""Limits and vocabularies of the declaration file, defined once."""

from __future__ import annotations

import re

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
    "opt_out_note",
    "blocked",
    "allow",
    "col_name",
    "col_provider",
    "col_lifetime",
    "col_purpose",
    "session",
    # The cookie count in the settings, one key per plural category ({n} is the number);
    # Intl.PluralRules of the language picks one, "other" when its category is missing.
    "cookies_zero",
    "cookies_one",
    "cookies_two",
    "cookies_few",
    "cookies_many",
    "cookies_other",
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
# Defined here once; the server, the scanner and its reports all use these.
SEVERITIES = ("info", "low", "medium", "high", "critical")
PHASES = ("pre-consent", "after-reject", "after-accept")
# The purpose categories a declaration knows by default, in the order they are shown.
PURPOSES = ("necessary", "preferences", "analytics", "marketing")
# What a page keeps on the visitor's device besides cookies (Art. 5(3) ePrivacy covers all of
# it): localStorage and sessionStorage keys, and IndexedDB databases by name.
STORAGE_KINDS = ("local", "session", "indexeddb")
MAX_TEXT = 5000

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
    # Optional: in the content only when declared, so that older revisions keep their hash.
    # The consent's reach (cookie_domain) and its regional rules are pinned by the revision a
    # receipt names: an auditor sees what the visitor's choice covered and how it was asked.
    "cookie_domain",
    "regions",
    # The banner's presentation (layout): visitors see it, so a change is a new revision.
    "banner",
)
# Revision fields that are left out of the content when a declaration does not give them.
OPTIONAL_REVISION_FIELDS = ("cookie_domain", "regions", "banner")
# The banner's layouts (declaration `banner.layout`, script tag `data-layout`).
LAYOUTS = ("bar", "box", "modal")


CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


# A --resolve host pattern: a host name in which "*" may stand for any part (fnmatch, as
# Chromium's host-resolver rules read them); the scan's network guard resolves with it.
RESOLVE_HOST_RE = r"^[A-Za-z0-9*]([A-Za-z0-9*.-]{0,252})$"


MAX_URL = 2048


# Countries where the banner always asks first (ISO 3166-1 alpha-2): the EU member states, the
# rest of the EEA (Iceland, Liechtenstein, Norway), the United Kingdom and Switzerland.
EEA_UK_CH = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
        "IS", "LI", "NO",
        "GB", "CH",
    }
)  # fmt: skip
# What a visitor outside EEA_UK_CH gets (docs/banner.md#region-rules); "banner" is the default.
REGION_RULES = ("banner", "opt_out", "none")
REGION_KEYS = ("outside_eea",)
