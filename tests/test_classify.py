"""Cookie classification: the knowledge base, declarations, name rules, party and imports."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from declaration.durations import parse_duration
from declaration.loader import load_declaration
from scanner.classify import classify, party, rule_category
from scanner.knowledge import (
    CATEGORIES,
    STORAGES,
    KnowledgeBase,
    KnowledgeEntry,
    KnowledgeError,
    registrable_domain,
)

KB = KnowledgeBase.load_default()
EMPTY = KnowledgeBase.empty()

PLATFORMS = {
    "Google Analytics",
    "Google Ads",
    "Google Tag Manager",
    "Meta",
    "Microsoft Clarity",
    "Microsoft Advertising",
    "LinkedIn",
    "TikTok",
    "Pinterest",
    "Hotjar",
    "HubSpot",
    "Matomo",
    "YouTube",
    "Vimeo",
    "Cloudflare",
    "Stripe",
    "Klarna",
    "Shopify",
    "WordPress",
    "WooCommerce",
    "PHP",
    "Java Servlet",
    "ASP.NET",
    "ASP.NET Core",
    "Express",
    "Laravel",
    "Django",
    "Ruby on Rails",
    "CodeIgniter",
    "HAProxy",
    "AWS Elastic Load Balancing",
    "Azure App Service",
    "Cookiebot",
    "OneTrust",
    "IAB TCF",
    "vanilla-cookieconsent",
    "Klaro",
    "CookieYes",
    "Complianz",
    "Borlabs Cookie",
    "consent-manager",
}


def sample_domain(entry: KnowledgeEntry) -> str:
    """A cookie domain on which the entry applies."""
    if not entry.domains:
        return "www.example.se"
    domain = entry.domains[0]
    return "www." + (domain[:-2] + ".com" if domain.endswith(".*") else domain)


# --- The bundled knowledge base ------------------------------------------------------------


def test_the_default_knowledge_base_has_at_least_250_entries():
    assert len(KB) >= 250
    assert KnowledgeBase.load_default() is KB  # loaded once


def test_every_platform_of_the_brief_is_covered():
    missing = PLATFORMS - KB.vendors()
    assert not missing, sorted(missing)


@pytest.mark.parametrize("entry", [e for e in KB if e.pattern], ids=lambda e: e.pattern)
def test_every_pattern_is_anchored_compiles_and_matches_its_example(entry):
    assert entry.pattern.startswith("^") and entry.pattern.endswith("$")
    assert re.compile(entry.pattern).fullmatch(entry.example or ""), entry.example


@pytest.mark.parametrize("entry", KB.entries, ids=lambda e: e.key)
def test_every_entry_is_what_a_lookup_of_its_name_or_example_returns(entry):
    # No earlier entry shadows it: exact names, pattern order and domains all agree.
    name = entry.name if entry.name is not None else entry.example
    assert KB.lookup(name, sample_domain(entry), entry.storage) is entry


def test_entries_are_well_formed():
    for entry in KB:
        assert entry.category in CATEGORIES, entry
        assert entry.storage in STORAGES, entry
        assert entry.vendor and entry.description, entry
        assert entry.description.isprintable() and len(entry.description) <= 200, entry
        if entry.lifetime not in (None, "session"):
            parse_duration(entry.lifetime)
        if entry.storage == "cookie":
            assert entry.lifetime is not None, entry
        if entry.storage == "session":
            assert entry.lifetime == "session", entry


def test_no_two_exact_entries_claim_the_same_name_on_the_same_domain():
    seen: dict[tuple[str, str, str], KnowledgeEntry] = {}
    for entry in KB:
        if entry.name is None:
            continue
        for domain in entry.domains or ("*",):
            key = (entry.name, entry.storage, domain)
            assert key not in seen, (entry, seen.get(key))
            seen[key] = entry


@pytest.mark.parametrize(
    ("name", "domain", "storage", "vendor", "category"),
    [
        ("_ga", "example.se", "cookie", "Google Analytics", "analytics"),
        ("_ga_Q1W2E3R4T5", ".example.se", "cookie", "Google Analytics", "analytics"),
        ("_gat_gtag_UA_12345_1", "example.se", "cookie", "Google Analytics", "analytics"),
        ("__utmz", "example.se", "cookie", "Google Analytics", "analytics"),
        ("_gcl_au", "example.se", "cookie", "Google Ads", "marketing"),
        ("IDE", ".doubleclick.net", "cookie", "Google Ads", "marketing"),
        ("NID", ".google.se", "cookie", "Google", "marketing"),
        ("_fbp", "example.se", "cookie", "Meta", "marketing"),
        ("fr", ".facebook.com", "cookie", "Meta", "marketing"),
        ("_clck", "example.se", "cookie", "Microsoft Clarity", "analytics"),
        ("_uetvid", "example.se", "cookie", "Microsoft Advertising", "marketing"),
        ("bcookie", ".www.linkedin.com", "cookie", "LinkedIn", "marketing"),
        ("_ttp", "example.se", "cookie", "TikTok", "marketing"),
        ("_pin_unauth", "example.se", "cookie", "Pinterest", "marketing"),
        ("_hjSessionUser_3012345", "example.se", "cookie", "Hotjar", "analytics"),
        ("__hstc", "example.se", "cookie", "HubSpot", "analytics"),
        ("_pk_id.3.a1b2", "example.se", "cookie", "Matomo", "analytics"),
        ("VISITOR_INFO1_LIVE", ".youtube.com", "cookie", "YouTube", "marketing"),
        ("yt-remote-device-id", "www.youtube-nocookie.com", "local", "YouTube", "marketing"),
        ("vuid", ".vimeo.com", "cookie", "Vimeo", "analytics"),
        ("__cf_bm", "example.se", "cookie", "Cloudflare", "necessary"),
        ("m", "m.stripe.com", "cookie", "Stripe", "necessary"),
        ("_shopify_y", "shop.example.se", "cookie", "Shopify", "analytics"),
        (
            "wordpress_logged_in_0123456789abcdef0123456789abcdef",
            "x.se",
            "cookie",
            "WordPress",
            "necessary",
        ),
        (
            "wp_woocommerce_session_0123456789abcdef0123456789abcdef",
            "x.se",
            "cookie",
            "WooCommerce",
            "necessary",
        ),
        ("PHPSESSID", "example.se", "cookie", "PHP", "necessary"),
        (".AspNetCore.Antiforgery.Xy12", "example.se", "cookie", "ASP.NET Core", "necessary"),
        ("CookieConsent", "example.se", "cookie", "Cookiebot", "necessary"),
        ("cmplz_statistics", "example.se", "cookie", "Complianz", "necessary"),
        ("cm_consent", "example.se", "cookie", "consent-manager", "necessary"),
        ("cm_receipt", "example.se", "local", "consent-manager", "necessary"),
    ],
)
def test_well_known_cookies_are_recognised(name, domain, storage, vendor, category):
    entry = KB.lookup(name, domain, storage)
    assert entry is not None
    assert (entry.vendor, entry.category) == (vendor, category)


def test_domain_restricted_entries_only_match_on_their_domains():
    assert KB.lookup("PREF", ".youtube.com").vendor == "YouTube"
    assert KB.lookup("PREF", "www.youtube-nocookie.com").vendor == "YouTube"
    assert KB.lookup("PREF", "example.se") is None
    assert KB.lookup("PREF") is None  # domain unknown: no guessing
    assert KB.lookup("IDE", "example.se") is None
    assert KB.lookup("NID", "www.google.co.uk").vendor == "Google"
    assert KB.lookup("NID", "google.example.se") is None
    assert KB.lookup("lang", ".linkedin.com").vendor == "LinkedIn"
    assert KB.lookup("lang", "example.se") is None
    # Same name, different platforms.
    assert KB.lookup("ar_debug", ".doubleclick.net").vendor == "Google Ads"
    assert KB.lookup("ar_debug", "www.pinterest.com").vendor == "Pinterest"
    # A pattern limited to tiktok.com does not claim other sites' tt_ cookies.
    assert KB.lookup("tt_whatever", "www.tiktok.com").vendor == "TikTok"
    assert KB.lookup("tt_whatever", "example.se") is None


def test_storage_is_preferred_but_a_known_key_in_another_storage_is_still_found():
    assert KB.lookup("_hjSessionUser_12", "example.se", "local").vendor == "Hotjar"
    assert KB.lookup("ajs_anonymous_id", "example.se", "local").vendor == "Segment"
    assert KB.lookup("yt-remote-session-app", "youtube.com", "session").storage == "session"
    # Same storage first: a localStorage yt-remote- key is the local pattern's.
    assert KB.lookup("yt-remote-session-app", "youtube.com", "local").storage == "local"
    assert KB.lookup("wc_cart_created", "example.se", "local").storage == "session"


def test_unknown_names_are_not_found():
    assert KB.lookup("definitely_not_a_known_cookie", "example.se") is None
    assert KB.lookup("", "example.se") is None


def test_a_bad_user_entry_is_refused_with_its_place():
    with pytest.raises(KnowledgeError, match=r"entry 0 .*anchored"):
        KnowledgeBase.from_data([{"pattern": "_x_", "vendor": "V", "category": "analytics"}])
    with pytest.raises(KnowledgeError, match="category"):
        KnowledgeBase.from_data([{"name": "x", "vendor": "V", "category": "unknown"}])
    with pytest.raises(KnowledgeError, match="example"):
        KnowledgeBase.from_data(
            [{"pattern": "^a$", "example": "b", "vendor": "V", "category": "analytics"}]
        )
    with pytest.raises(KnowledgeError, match="unknown fields"):
        KnowledgeBase.from_data([{"name": "x", "vendor": "V", "category": "analytics", "typo": 1}])


def test_user_yaml_entries_take_precedence_after_merge(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "entries:\n"
        "  - {name: _ga, vendor: Our Stats, category: analytics, lifetime: P1Y,"
        " description: Our own.}\n"
        "  - {name: shop_pref, vendor: Shop, category: preferences, lifetime: P30D}\n",
        encoding="utf-8",
    )
    merged = KB.merge(KnowledgeBase.from_file(path))
    assert merged.lookup("_ga", "example.se").vendor == "Our Stats"
    assert merged.lookup("shop_pref", "example.se").category == "preferences"
    assert merged.lookup("_gid", "example.se").vendor == "Google Analytics"
    assert KB.lookup("_ga", "example.se").vendor == "Google Analytics"  # unchanged
    assert len(merged) == len(KB) + 2


# --- classify ------------------------------------------------------------------------------


def declaration(*cookies: dict, domains: tuple[str, ...] = ("www.example.se",)):
    return load_declaration(
        {"site": "shop-one", "name": "Shop", "domains": list(domains), "cookies": list(cookies)}
    )


def test_the_declaration_wins_over_the_knowledge_base():
    decl = declaration(
        {"name": "_ga", "provider": "Google", "category": "necessary", "lifetime": "P1Y"}
    )
    result = classify("_ga", "example.se", declaration=decl, site_domains=["www.example.se"])
    assert result.source == "declared"
    assert result.category == "necessary"
    assert result.declared_category == "necessary"
    assert result.declared_lifetime == "P1Y"
    assert result.vendor == "Google"
    assert result.typical_lifetime == "P2Y"  # what Google Analytics usually asks for
    # Undeclared cookies fall through to the knowledge base.
    other = classify("_gid", "example.se", declaration=decl)
    assert (other.source, other.category, other.vendor) == (
        "knowledge",
        "analytics",
        "Google Analytics",
    )
    assert other.typical_lifetime == "P1D" and other.description


def test_declared_patterns_and_exact_names():
    decl = declaration(
        {"name_pattern": "^_ga_[A-Z0-9]+$", "category": "analytics", "lifetime": "P2Y"},
        {"name": "_ga_SPECIAL1", "category": "marketing"},
    )
    assert classify("_ga_ABC123", "example.se", declaration=decl).source == "declared"
    # An exact name is tried before the patterns.
    exact = classify("_ga_SPECIAL1", "example.se", declaration=decl)
    assert (exact.declared_category, exact.declared_lifetime) == ("marketing", "session")


def test_a_declared_domain_covers_itself_and_its_subdomains_only():
    decl = declaration(
        {"name": "IDE", "domain": "doubleclick.net", "category": "marketing"},
        {"name": "uid", "domain": "*.tracker.com", "category": "marketing"},
    )
    assert classify("IDE", ".doubleclick.net", declaration=decl).source == "declared"
    assert classify("IDE", "ad.doubleclick.net", declaration=decl).source == "declared"
    # Not the declared domain: the declaration does not cover it (it is classified by name).
    assert classify("IDE", "notdoubleclick.net", declaration=decl).source != "declared"
    assert classify("uid", "a.tracker.com", declaration=decl).source == "declared"


def test_a_declared_cookie_without_domain_covers_the_sites_own_domains():
    decl = declaration({"name": "basket", "category": "necessary"})
    sites = ("www.example.se",)
    assert (
        classify("basket", "example.se", declaration=decl, site_domains=sites).source == "declared"
    )
    assert (
        classify("basket", "shop.example.se", declaration=decl, site_domains=sites).source
        == "declared"
    )
    assert (
        classify("basket", "other-shop.com", declaration=decl, site_domains=sites).source == "none"
    )
    # Without the site's domains, any domain.
    assert classify("basket", "tracker.com", declaration=decl).source == "declared"


def test_declared_storage_must_agree():
    decl = declaration(
        {"name": "cart_state", "category": "necessary", "storage": "local"},
    )
    assert classify("cart_state", "example.se", "local", declaration=decl).source == "declared"
    assert classify("cart_state", "example.se", "cookie", declaration=decl).source != "declared"
    idb = declaration({"name": "shop-offline", "category": "necessary", "storage": "indexeddb"})
    assert classify("shop-offline", "example.se", "indexeddb", declaration=idb).source == "declared"
    assert classify("shop-offline", "example.se", "local", declaration=idb).source != "declared"


def test_declaration_data_and_plain_lists_are_accepted():
    cookies = [{"name": "basket", "category": "necessary", "lifetime": "session"}]
    assert classify("basket", "x.se", declaration={"cookies": cookies}).source == "declared"
    assert classify("basket", "x.se", declaration=cookies).source == "declared"


def test_knowledge_none_means_the_default_and_empty_means_none():
    assert classify("_gid", "example.se").source == "knowledge"
    assert classify("_gid", "example.se", knowledge=EMPTY).source == "none"


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("SESSa1b2c3d4e5f6a7b8", "necessary"),
        ("my_app_session", "necessary"),
        ("sid", "necessary"),
        ("sessionId", "necessary"),
        ("shop-sess", "necessary"),
        ("CFSESSIONID", "necessary"),
        ("csrf_token", "necessary"),
        ("x-xsrf", "necessary"),
        ("__RequestVerificationToken", "necessary"),
        ("_token", "necessary"),
        ("lb", "necessary"),
        ("route", "necessary"),
        ("BIGipServer~web~pool", "necessary"),
        ("AWSELB", "necessary"),
        ("INGRESSCOOKIE", "necessary"),
        ("ARRAffinity", "necessary"),
        ("backend_affinity", "necessary"),
        ("lang", "preferences"),
        ("site_language", "preferences"),
        ("preferredLocale", "preferences"),
        ("currency", "preferences"),
        ("theme", "preferences"),
        ("dark_mode", "preferences"),
    ],
)
def test_name_rules(name, category):
    assert rule_category(name)[0] == category
    result = classify(name, "example.se", knowledge=EMPTY)
    assert (result.category, result.source) == (category, "rule")
    assert result.description


@pytest.mark.parametrize("name", ["possession", "consid", "obsidian", "_xyz_uid", "slang_score"])
def test_rules_do_not_fire_on_lookalikes(name):
    assert rule_category(name) is None
    assert classify(name, "example.se", knowledge=EMPTY).source == "none"


def test_the_knowledge_base_comes_before_rules():
    result = classify("laravel_session", "example.se")
    assert (result.source, result.vendor) == ("knowledge", "Laravel")
    assert classify("my_app_session", "example.se").source == "rule"


def test_rules_only_apply_to_the_sites_own_cookies_when_its_domains_are_known():
    sites = ("www.example.se",)
    assert classify("sid", "example.se", site_domains=sites).source == "rule"
    third = classify("sid", "widget-vendor.com", site_domains=sites)
    assert (third.category, third.source) == ("unknown", "none")


# --- party ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie_domain", "site_host", "expected"),
    [
        ("www.example.se", "example.se", ("first", "example.se")),
        (".example.se", "www.example.se", ("first", "example.se")),
        ("cdn.example.se", "tracker.com", ("third", "example.se")),
        ("a.b.co.uk", "c.b.co.uk", ("first", "b.co.uk")),
        ("b.co.uk", "c.co.uk", ("third", "b.co.uk")),
        ("127.0.0.1", "127.0.0.1", ("first", "127.0.0.1")),
        ("127.0.0.1", "127.0.0.2", ("third", "127.0.0.1")),
        ("10.0.0.1", "0.1", ("third", "10.0.0.1")),  # no public-suffix arithmetic on IPs
        ("[::1]", "::1", ("first", "::1")),
        ("0:0:0:0:0:0:0:1", "::1", ("first", "::1")),
        ("localhost", "localhost", ("first", "localhost")),
        ("localhost", "example.se", ("third", "localhost")),
        ("app.localhost", "localhost", ("third", "app.localhost")),
        ("user.github.io", "other.github.io", ("third", "user.github.io")),
        ("WWW.Example.SE.", "example.se", ("first", "example.se")),
    ],
)
def test_party(cookie_domain, site_host, expected):
    assert party(cookie_domain, site_host) == expected


def test_registrable_domain_of_a_bare_suffix_is_itself():
    assert registrable_domain("co.uk") == "co.uk"
    assert registrable_domain("") == ""


# --- Open Cookie Database import -----------------------------------------------------------

OCD_HEADER = [
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
]


def write_ocd(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(OCD_HEADER)
        writer.writerows(rows)
    return path


def test_open_cookie_database_import_merged_over_the_default(tmp_path: Path):
    path = write_ocd(
        tmp_path / "open-cookie-database.csv",
        [
            [
                "1",
                "Acme Analytics",
                "Analytics",
                "_ga",
                "acme.example (3rd party) or advertiser's website domain (1st party)",
                "Visitor ID, our way",
                "2 years",
                "Acme",
                "https://acme.example/privacy",
                "0",
            ],
            [
                "2",
                "Acme Ads",
                "Marketing",
                "acme_ad_",
                "ads.acmeads.com",
                "Ad ID per campaign",
                "13 months",
                "Acme",
                "",
                "1",
            ],
            ["3", "Acme", "Other", "acme_mystery", "", "Nobody knows", "1 day", "Acme", "", "0"],
            ["4", "Acme", "Security", "acme_guard", "", "Bot check", "Session", "Acme", "", "0"],
            ["5", "Acme", "Functional", "acme_pref", "", "Settings", "30 days", "", "", "0"],
            ["6", "Acme", "Personalization", "acme_pers", "", "Picks", "1 year", "", "", "0"],
            ["7", "Acme", "Analytics", "acme_ttl", "", "Short", "10 minutes", "", "", "0"],
        ],
    )
    ocd = KnowledgeBase.from_open_cookie_database(path)
    assert ocd.skipped == 1 and "acme_mystery" in ocd.warnings[0]
    assert len(ocd) == 6
    by_key = {e.key: e for e in ocd}
    assert by_key["_ga"].lifetime == "P2Y" and by_key["_ga"].domains == ()
    assert (
        by_key["acme_guard"].category == "necessary" and by_key["acme_guard"].lifetime == "session"
    )
    assert by_key["acme_pref"].category == "preferences" and by_key["acme_pref"].lifetime == "P30D"
    assert by_key["acme_pers"].category == "preferences" and by_key["acme_pers"].lifetime == "P1Y"
    assert by_key["acme_ttl"].lifetime == "PT10M"

    merged = KB.merge(ocd)
    assert merged.skipped == 1
    assert merged.lookup("_ga", "example.se").vendor == "Acme Analytics"  # user first
    assert merged.lookup("_gid", "example.se").vendor == "Google Analytics"  # default kept
    assert KB.lookup("_ga", "example.se").vendor == "Google Analytics"  # default unchanged
    # Wildcard: the name is a prefix; a plain host in Domain limits it to that site.
    wildcard = merged.lookup("acme_ad_spring24", "x.acmeads.com")
    assert wildcard is not None and wildcard.category == "marketing" and wildcard.pattern
    assert merged.lookup("acme_ad_", "acmeads.com") is wildcard
    assert merged.lookup("acme_ad_spring24", "example.se") is None
    assert merged.lookup("xacme_ad_1", "acmeads.com") is None
    assert merged.lookup("acme_mystery", "example.se") is None
    result = classify("_ga", "example.se", knowledge=merged)
    assert (result.source, result.vendor, result.description) == (
        "knowledge",
        "Acme Analytics",
        "Visitor ID, our way",
    )


def test_a_csv_that_is_not_the_open_cookie_database_is_refused(tmp_path: Path):
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="not an Open Cookie Database CSV"):
        KnowledgeBase.from_open_cookie_database(path)
