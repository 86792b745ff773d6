"""Known names on unexpected domains, general evidence for unseen names, confidence and reason.

Runs without the Open Cookie Database (bench/cookie_classification.py measures on it).
"""

from __future__ import annotations

from dataclasses import asdict

import pytest

from scanner.classify import CONFIDENCE, MAX_NAME, classify, evidence
from scanner.knowledge import KnowledgeBase

SITE = ("www.example-shop.se",)


def test_a_known_name_on_its_own_domain_is_sure_and_says_whose_it_is():
    result = classify("IDE", ".doubleclick.net", site_domains=SITE)
    assert (result.category, result.source, result.vendor) == (
        "marketing",
        "knowledge",
        "Google Ads",
    )
    assert result.confidence == CONFIDENCE["knowledge"]
    assert result.reason == "known cookie of Google Ads"


@pytest.mark.parametrize(
    "host",
    [
        "metrics.example-shop.se",  # a white-label host on the site's own domain (CNAME)
        "ads.whitelabel-adserver.net",  # a reseller's host, third party
    ],
)
def test_ide_on_a_white_label_host_is_marketing_by_its_name_with_lower_confidence(host):
    result = classify("IDE", host, site_domains=SITE)
    assert (result.category, result.source, result.vendor) == (
        "marketing",
        "knowledge",
        "Google Ads",
    )
    assert result.confidence == CONFIDENCE["unexpected_domain"] < CONFIDENCE["knowledge"]
    assert result.reason == f"known name of Google Ads, seen on an unexpected domain {host}"
    assert result.description  # the knowledge base's purpose still goes to proposals


def test_youtube_visitor_cookie_from_an_embed_proxy_is_marketing_with_lower_confidence():
    result = classify("VISITOR_INFO1_LIVE", "yt-proxy.example.net", site_domains=SITE)
    assert (result.category, result.vendor) == ("marketing", "YouTube")
    assert result.confidence < classify("VISITOR_INFO1_LIVE", ".youtube.com").confidence
    assert "unexpected domain yt-proxy.example.net" in result.reason


def test_short_generic_names_do_not_carry_a_vendor_to_another_domain():
    # "id" is DoubleClick's on doubleclick.net; elsewhere it says nothing.
    result = classify("id", "www.example-shop.se", site_domains=SITE)
    assert result.vendor != "Google Ads"


def test_a_first_party_session_shape_wins_over_a_known_name_from_elsewhere():
    # Google's SID on google.com; a site's own SID is its session.
    result = classify("SID", "www.example-shop.se", site_domains=SITE)
    assert (result.category, result.source) == ("necessary", "rule")
    assert result.confidence == CONFIDENCE["rule"]


@pytest.mark.parametrize(
    ("name", "host", "category", "vendor"),
    [
        ("_hjBrandNewThing", "www.example-shop.se", "analytics", "Hotjar"),
        ("_pk_something.7.abcd", "www.example-shop.se", "analytics", "Matomo"),
        ("__hs_new_tracker", "www.example-shop.se", "marketing", "HubSpot"),
        ("_fbp_v2", "www.example-shop.se", "marketing", "Meta"),
        ("__stripe_new", "m.stripe.network", "necessary", "Stripe"),
    ],
)
def test_a_vendor_prefix_classifies_a_name_never_seen(name, host, category, vendor):
    result = classify(name, host, knowledge=KnowledgeBase.empty(), site_domains=SITE)
    assert (result.category, result.source, result.vendor) == (category, "rule", vendor)
    assert result.confidence == CONFIDENCE["vendor_prefix"]
    assert "starts with" in result.reason and vendor in result.reason


def test_an_unknown_name_from_a_known_ad_network_host_is_marketing():
    result = classify("zz_q", "ib.adnxs.com", knowledge=KnowledgeBase.empty(), site_domains=SITE)
    assert (result.category, result.source, result.vendor) == ("marketing", "rule", "Xandr")
    assert result.confidence == CONFIDENCE["host"]
    assert result.reason == "set by ib.adnxs.com, a domain of Xandr used for marketing"


def test_the_host_is_no_evidence_for_the_sites_own_cookies():
    # A site on an ad network's domain is scanned as itself: its own cookies are not "the
    # ad network's".
    result = classify(
        "zz_q", "www.adnxs.com", knowledge=KnowledgeBase.empty(), site_domains=("adnxs.com",)
    )
    assert result.category == "unknown"


@pytest.mark.parametrize(
    ("name", "category", "word"),
    [
        ("my_ad_seen", "marketing", "ad"),
        ("retargetingList", "marketing", "retargeting"),
        ("utm_source_kept", "marketing", "utm"),
        ("site-pixel-fired", "marketing", "pixel"),
        ("pageviews_today", "analytics", "pageviews"),
        ("ab_test_group", "analytics", "ab"),
    ],
)
def test_words_of_advertising_or_analytics_in_the_name(name, category, word):
    result = classify(
        name, "www.example-shop.se", knowledge=KnowledgeBase.empty(), site_domains=SITE
    )
    assert (result.category, result.source) == (category, "rule")
    assert result.confidence == CONFIDENCE["name_words"]
    assert f"{word!r}" in result.reason


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("cookie_consent_choice", "necessary"),
        ("mini_cart_items", "necessary"),
        ("basketId", "necessary"),
        ("remember_login", "necessary"),
        ("cookie_test", "necessary"),
    ],
)
def test_first_party_site_machinery(name, category):
    result = classify(
        name, "www.example-shop.se", knowledge=KnowledgeBase.empty(), site_domains=SITE
    )
    assert (result.category, result.source, result.confidence) == (category, "rule", 0.8)
    assert result.reason == result.description


def test_an_identifier_set_by_a_third_party_is_marketing_but_not_the_sites_own():
    third = classify(
        "zz_uid", "cdn.unknown-vendor.net", knowledge=KnowledgeBase.empty(), site_domains=SITE
    )
    assert (third.category, third.confidence) == ("marketing", CONFIDENCE["third_party_id"])
    assert "third party (cdn.unknown-vendor.net)" in third.reason
    own = classify(
        "zz_uid", "www.example-shop.se", knowledge=KnowledgeBase.empty(), site_domains=SITE
    )
    assert (own.category, own.source, own.confidence) == ("unknown", "none", 0.0)
    # Without the site's domains the party is not known: an identifier proves nothing.
    assert (
        classify("zz_uid", "cdn.unknown-vendor.net", knowledge=KnowledgeBase.empty()).category
        == "unknown"
    )


def test_a_third_partys_session_cookie_stays_unknown():
    result = classify("sid", "cdn.unknown-vendor.net", site_domains=SITE)
    assert (result.category, result.source) == ("unknown", "none")
    assert result.reason


def test_confidence_and_reason_are_in_the_report_form():
    data = asdict(classify("IDE", "ads.whitelabel-adserver.net", site_domains=SITE))
    assert data["confidence"] == CONFIDENCE["unexpected_domain"]
    assert "unexpected domain" in data["reason"]
    assert {"category", "source", "vendor", "description"} <= set(data)


@pytest.mark.parametrize(
    "name",
    [
        "a" * 100_000,
        "_hj" + "x" * 50_000,
        "ad_" * 20_000,
        "(.*)+$^[" * 1000,
        "IDE(?:x)|.*",
        "\\",
        "[",
        "ünïcödé_ad_卡",
        "🍪" * 500,
        "name\nwith\tcontrols\x00",
        "",
        " ",
    ],
)
@pytest.mark.parametrize("host", ["ib.adnxs.com", "www.example-shop.se", "", "[::1]", "ü.example"])
def test_hostile_names_never_crash_and_reasons_stay_bounded(name, host):
    result = classify(name, host, site_domains=SITE)
    assert result.category in {"necessary", "preferences", "analytics", "marketing", "unknown"}
    assert 0.0 <= result.confidence <= 1.0
    assert result.reason and len(result.reason) < 400
    assert result.reason.isprintable()
    evidence(name, host, third_party=True)  # and the evidence alone


def test_a_hostile_long_name_is_only_read_up_to_the_bound():
    # The evidence looks at the first MAX_NAME characters only: a word past them is unseen.
    name = "x" * MAX_NAME + "_ads"
    result = classify(
        name, "www.example-shop.se", knowledge=KnowledgeBase.empty(), site_domains=SITE
    )
    assert result.category == "unknown"
