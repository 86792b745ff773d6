"""Known names on unexpected domains, general evidence for unseen names, confidence and reason.

Runs without the Open Cookie Database (bench/cookie_classification.py measures on it).
"""

from __future__ import annotations

from dataclasses import asdict

import pytest

from bench.cookie_classification import (
    SECOND_READING,
    load_second_reading,
    main,
    run,
    split_of,
)
from declaration.constants import PURPOSES
from scanner.classify import CONFIDENCE, MAX_NAME, classify, evidence
from scanner.knowledge import KnowledgeBase

SITE = ("www.example-shop.se",)
OCD_HEADER = (
    "ID,Platform,Category,Cookie / Data Key name,Domain,Description,Retention period,"
    "Data Controller,User Privacy & GDPR Rights Portals,Wildcard match\n"
)


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


# --- Evidence added with the held-out protocol (bench --split dev) ----------------------


def _unseen(name, host):
    return classify(name, host, knowledge=KnowledgeBase.empty(), site_domains=SITE)


@pytest.mark.parametrize(
    ("host", "vendor", "category"),
    [
        ("login.microsoftonline.com", "Microsoft", "necessary"),
        ("eu1.salesforce.com", "Salesforce", "preferences"),
        ("widget.intercom.io", "Intercom", "preferences"),
        ("checkout.paypal.com", "PayPal", "necessary"),
        ("consent.cookiebot.com", "Cookiebot", "necessary"),
    ],
)
def test_a_platforms_own_domain_makes_its_opaque_cookie_functional(host, vendor, category):
    result = _unseen("zq7", host)
    assert (result.category, result.source, result.vendor) == (category, "rule", vendor)
    assert result.confidence == CONFIDENCE["service"]
    assert result.reason.startswith(f"set by {host}, the own domain of {vendor}'s service")


def test_a_platforms_cookie_with_a_tracking_word_or_identifier_is_not_made_functional():
    assert _unseen("ad_seen", "www.salesforce.com").category == "marketing"
    # The platform's domain is no evidence for the site's own cookies on it.
    own = classify(
        "zq7",
        "www.salesforce.com",
        knowledge=KnowledgeBase.empty(),
        site_domains=("salesforce.com",),
    )
    assert own.category == "unknown"


def test_the_platform_list_overrides_the_knowledge_bases_most_tracking_entry():
    # The bundled base lists stripe.com cookies; an unseen one there is Stripe's machinery.
    result = classify("zq7", "m.stripe.com", site_domains=SITE)
    assert (result.category, result.vendor) == ("necessary", "Stripe")


@pytest.mark.parametrize(
    ("host", "vendor"),
    [("sync.id5-sync.com", "ID5"), ("ap.lijit.com", "Sovrn"), ("x.bidr.io", "Beeswax")],
)
def test_more_ad_technology_domains(host, vendor):
    result = _unseen("zq7", host)
    assert (result.category, result.vendor, result.confidence) == (
        "marketing",
        vendor,
        CONFIDENCE["host"],
    )


@pytest.mark.parametrize(
    ("name", "vendor", "category"),
    [
        ("AMCV_1234%40AdobeOrg", "Adobe Experience Cloud", "marketing"),
        ("aam_uuid", "Adobe Audience Manager", "marketing"),
        ("mage-messages", "Magento", "necessary"),
        ("Nop.customer", "nopCommerce", "necessary"),
        ("_lfa_test", "Leadfeeder", "marketing"),
        ("incap_ses_123_456", "Imperva", "necessary"),
    ],
)
def test_new_vendor_prefixes(name, vendor, category):
    result = _unseen(name, "www.example-shop.se")
    assert (result.category, result.vendor, result.confidence) == (
        category,
        vendor,
        CONFIDENCE["vendor_prefix"],
    )


@pytest.mark.parametrize(
    ("name", "category", "shape"),
    [
        ("csrf-canary", "necessary", "anti-forgery"),
        ("AWSALBCORS", "necessary", "load-balancer"),
        ("ui_language", "preferences", "language"),
        ("siteLocale", "preferences", "language"),
    ],
)
def test_a_third_partys_csrf_load_balancer_or_setting_cookie_serves_its_service(
    name, category, shape
):
    result = _unseen(name, "widget.unknown-vendor.net")
    assert (result.category, result.source) == (category, "rule")
    assert result.confidence == CONFIDENCE["third_party_shape"] < CONFIDENCE["rule"]
    assert shape in result.reason


@pytest.mark.parametrize(
    ("name", "category", "shape"),
    [
        ("cookiePreferences", "necessary", "consent choice"),
        ("cookie_notice_accepted", "necessary", "consent choice"),
        ("CMSCookieLevel", "necessary", "consent choice"),
        ("has_js", "necessary", "cookies work"),
        ("external_no_cache", "necessary", "page-cache"),
        ("CMSPreferredCulture", "preferences", "language"),
        ("recently_viewed_products", "preferences", "setting the visitor chose"),
        ("VisitorStatus", "analytics", "'visitor'"),
    ],
)
def test_more_first_party_shapes(name, category, shape):
    result = _unseen(name, "www.example-shop.se")
    assert (result.category, result.source) == (category, "rule")
    assert shape in result.reason


@pytest.mark.parametrize("name", ["pl_user_id", "deviceId_v2", "partner_sync", "cm_matched"])
def test_identifiers_and_cookie_sync_names_of_a_third_party_are_marketing(name):
    third = _unseen(name, "px.unknown-vendor.net")
    assert (third.category, third.confidence) == ("marketing", CONFIDENCE["third_party_id"])
    assert _unseen(name, "www.example-shop.se").category != "marketing"


def test_a_run_of_letters_ending_in_a_tracking_word_is_marketing():
    result = _unseen("BSWtracker", "cdn.unknown-vendor.net")
    assert (result.category, result.confidence) == ("marketing", CONFIDENCE["name_words"])
    assert "'tracker'" in result.reason


@pytest.mark.parametrize("name", ["slang_score", "possession", "userlang"])
def test_lookalikes_of_the_new_endings_stay_unknown(name):
    # "slang" is no language and "possession" no session: the endings are only the long
    # ones (language, locale, culture, currency).
    assert _unseen(name, "www.example-shop.se").category == "unknown"


def test_the_benchmark_splits_rows_by_platform_and_lists_only_dev_rows(tmp_path, capsys):
    platforms = [f"Vendor {i}" for i in range(12)]
    rows = [f"{i},{p},Marketing,zq{i},adnxs.com,,,,,0\n" for i, p in enumerate(platforms)]
    ocd = tmp_path / "ocd.csv"
    ocd.write_text(OCD_HEADER + "".join(rows), encoding="utf-8")
    splits = {p: split_of(p) for p in platforms}
    assert set(splits.values()) == {"dev", "test"}  # both sides get rows
    assert splits == {p: split_of(p) for p in platforms}  # deterministic
    dev, test, every = (run(ocd, s)["unseen"]["rows"] for s in ("dev", "test", "all"))
    assert dev + test == every == len(platforms)
    assert dev == sum(v == "dev" for v in splits.values())
    with pytest.raises(SystemExit):
        main(["--ocd", str(ocd), "--split", "test", "--verbose"])
    assert "dev split only" in capsys.readouterr().err
    assert main(["--ocd", str(ocd), "--split", "dev", "--verbose"]) == 0


# --- The script that wrote a cookie, and what a third party's host is called --------------


@pytest.mark.parametrize(
    ("setter", "vendor", "category"),
    [
        ("https://static.hotjar.com/c/hotjar-123.js?sv=6", "Hotjar", "analytics"),
        ("https://connect.facebook.net/en_US/fbevents.js", "Meta", "marketing"),
        ("https://static.criteo.net/js/ld/publishertag.js", "Criteo", "marketing"),
    ],
)
def test_a_first_party_cookie_written_by_a_trackers_script_takes_the_scripts_purpose(
    setter, vendor, category
):
    result = classify(
        "zq7",
        "www.example-shop.se",
        knowledge=KnowledgeBase.empty(),
        site_domains=SITE,
        setter=setter,
    )
    assert (result.category, result.source, result.vendor) == (category, "rule", vendor)
    assert result.confidence == CONFIDENCE["setter"]
    host = setter.split("/")[2]
    assert result.reason == (
        f"written by a script from {host}, a domain of {vendor} used for {category}"
    )


@pytest.mark.parametrize(
    "setter",
    [
        # Tag managers and script CDNs run other vendors' code: no inference from them.
        "https://www.googletagmanager.com/gtm.js?id=GTM-ABC123",
        "https://cdn.jsdelivr.net/npm/js-cookie@3/dist/js.cookie.min.js",
        "https://cdnjs.cloudflare.com/ajax/libs/jquery-cookie/1.4.1/jquery.cookie.min.js",
        # A payment or chat service's script writes cookies for its own working.
        "https://js.stripe.com/v3/",
        "https://widget.intercom.io/widget/abc123",
        # The site's own script, and a script of a vendor nobody knows.
        "https://www.example-shop.se/app.js",
        "https://cdn.unknown-vendor.net/app.js",
        "not a url",
        "",
        # A page names its own scripts (//# sourceURL=...): hostile text, never an error.
        "http://[not-an-ipv6/x.js",
        "https://" + "a" * 5000 + ".hotjar.com/x.js",
    ],
)
def test_a_script_says_nothing_unless_it_comes_from_a_known_tracker(setter):
    result = classify(
        "zq7",
        "www.example-shop.se",
        knowledge=KnowledgeBase.empty(),
        site_domains=SITE,
        setter=setter,
    )
    assert result.category == "unknown"


def test_a_relay_is_never_evidence_even_where_the_knowledge_base_lists_tracking_there():
    # A user's knowledge file (--knowledge) may limit analytics cookies to a tag manager's or
    # a script CDN's domain; the bundled lists keep relays out of `domains`, so only this
    # shows that a relay's script still proves nothing.
    kb = KnowledgeBase.from_data(
        {
            "entries": [
                {"name": f"x_{i}", "vendor": vendor, "category": "analytics", "domains": [d]}
                for i, (d, vendor) in enumerate(
                    [
                        ("googletagmanager.com", "Tag host"),
                        ("jsdelivr.net", "Script CDN"),
                        ("acme-metrics.example", "Acme Metrics"),
                    ]
                )
            ]
        }
    )

    def by(setter):
        return classify(
            "zq7", "www.example-shop.se", knowledge=kb, site_domains=SITE, setter=setter
        )

    acme = by("https://cdn.acme-metrics.example/m.js")
    assert (acme.category, acme.vendor) == ("analytics", "Acme Metrics")
    assert by("https://www.googletagmanager.com/gtm.js?id=GTM-ABC123").category == "unknown"
    assert by("https://cdn.jsdelivr.net/npm/x@1/x.min.js").category == "unknown"


def test_the_setter_never_overrides_what_the_name_says():
    # A known name and the site's own shape rules speak before the script's domain.
    setter = "https://connect.facebook.net/en_US/fbevents.js"
    known = classify("_ga", "www.example-shop.se", site_domains=SITE, setter=setter)
    assert (known.category, known.source) == ("analytics", "knowledge")
    shaped = classify("shop_sessid", "www.example-shop.se", site_domains=SITE, setter=setter)
    assert (shaped.category, shaped.source) == ("necessary", "rule")


@pytest.mark.parametrize(
    ("host", "category", "label"),
    [
        ("ads.unknown-vendor.net", "marketing", "ads"),
        ("pixel-eu.unknown-vendor.com", "marketing", "pixel"),
        ("t.marketingautomation.services", "marketing", "marketingautomation"),
        ("stats.unknown-vendor.org", "analytics", "stats"),
        ("analyticsedge.example.io", "analytics", "analyticsedge"),
    ],
)
def test_a_third_partys_host_named_for_ads_or_statistics(host, category, label):
    result = _unseen("zq7", host)
    assert (result.category, result.source) == (category, "rule")
    assert result.confidence == CONFIDENCE["host_words"]
    assert f"({label!r})" in result.reason


@pytest.mark.parametrize(
    "host",
    ["uploads.unknown-vendor.net", "status.unknown-vendor.com", "roads.example.org"],
)
def test_words_hidden_inside_a_hosts_labels_are_not_read(host):
    assert _unseen("zq7", host).category == "unknown"


def test_the_sites_own_host_name_says_nothing():
    own = classify("zq7", "ads.example-shop.se", knowledge=KnowledgeBase.empty(), site_domains=SITE)
    assert own.category == "unknown"
    # Without the site's domains nobody knows whose host it is: its name proves nothing.
    unsure = classify("zq7", "ads.ad-agency.se", knowledge=KnowledgeBase.empty())
    assert unsure.category == "unknown"


@pytest.mark.parametrize("name", ["_shopGa", "_shopGa_cid", "ga_client_id"])
def test_a_copy_of_the_analytics_client_id_is_analytics(name):
    result = _unseen(name, "www.example-shop.se")
    assert (result.category, result.confidence) == ("analytics", CONFIDENCE["name_words"])
    assert "'ga'" in result.reason


def test_the_hint_lists_are_consistent():
    """Each domain in one list only, each prefix once, categories as the header says."""
    from collections import Counter
    from importlib import resources

    import yaml

    from scanner.knowledge import registrable_domain

    text = resources.files("scanner.knowledge").joinpath("hints.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    allowed = {
        "domains": {"marketing", "analytics"},
        "services": {"necessary", "preferences"},
        "relays": {None},
    }
    domains = Counter()
    for key, categories in allowed.items():
        for entry in data[key]:
            assert entry.get("category") in categories, (key, entry)
            assert entry["vendor"], entry
            # Registrable domains only: a host below one would never be looked up.
            assert registrable_domain(entry["domain"]) == entry["domain"], entry
            domains[entry["domain"]] += 1
    assert [d for d, n in domains.items() if n > 1] == []
    prefixes = Counter(p["prefix"].lower() for p in data["prefixes"])
    assert [p for p, n in prefixes.items() if n > 1] == []
    for entry in data["prefixes"]:
        assert len(entry["prefix"]) >= 3, entry
        assert entry["category"] in {"necessary", "preferences", "analytics", "marketing"}


# --- A best guess for an unknown session cookie of the site's own ---------------------------


def test_an_unknown_session_cookie_of_the_sites_own_gets_a_guess_of_preferences():
    result = classify("zq_view", "www.example-shop.se", site_domains=SITE, session=True)
    # Still unknown, for every finding, count and proposal: the guess is only a hint.
    assert (result.category, result.source, result.confidence) == ("unknown", "none", 0.0)
    assert result.guess == "preferences"
    assert "best guess preferences" in result.reason
    assert asdict(result)["guess"] == "preferences"


@pytest.mark.parametrize(
    ("name", "host", "kwargs"),
    [
        # A persistent cookie can recognise a returning visitor: no guess.
        ("zq_view", "www.example-shop.se", {"site_domains": SITE, "session": False}),
        # The lifetime is not known (a storage key, or a caller that does not say).
        ("zq_view", "www.example-shop.se", {"site_domains": SITE}),
        # A third party's session cookie may be a tracker's visit counter.
        ("zq_view", "cdn.unknown-vendor.net", {"site_domains": SITE, "session": True}),
        # Without the site's domains, whose cookie it is is not known.
        ("zq_view", "www.example-shop.se", {"session": True}),
    ],
)
def test_no_guess_without_a_first_party_session_cookie(name, host, kwargs):
    result = classify(name, host, **kwargs)
    assert (result.category, result.guess) == ("unknown", None)
    assert "guess" not in result.reason


def test_no_guess_for_storage_keys_or_where_evidence_speaks():
    local = classify("zq_view", "www.example-shop.se", "local", site_domains=SITE, session=True)
    assert (local.category, local.guess) == ("unknown", None)
    # Evidence always wins: a tracking word makes a session cookie analytics, not a guess.
    stats = classify("zq_stats", "www.example-shop.se", site_domains=SITE, session=True)
    assert (stats.category, stats.guess) == ("analytics", None)
    known = classify("_ga", "www.example-shop.se", site_domains=SITE, session=True)
    assert (known.category, known.guess) == ("analytics", None)


def test_the_benchmark_scores_guesses_apart_from_accuracy(tmp_path):
    first_party = "Advertiser's website domain (1st party)"
    rows = [
        f"1,Vendor A,Functional,zq_alpha,{first_party},,Session,,,0\n",
        f"2,Vendor A,Marketing,zq_beta,{first_party},,End of session (browser),,,0\n",
        f"3,Vendor A,Functional,zq_gamma,{first_party},,1 year,,,0\n",
    ]
    ocd = tmp_path / "ocd.csv"
    ocd.write_text(OCD_HEADER + "".join(rows), encoding="utf-8")
    unseen = run(ocd, "all")["unseen"]
    assert (unseen["accuracy"], unseen["unknown"]) == (0.0, 3)
    assert (unseen["guesses"], unseen["guesses_right"]) == (2, 1)
    assert unseen["accuracy_counting_guesses"] == round(1 / 3, 4)


def test_the_benchmark_scores_against_a_second_reading_of_the_rows(tmp_path, capsys):
    rows = [
        "r1,Vendor A,Marketing,zq_alpha,adnxs.com,,1 year,,,0\n",  # both say marketing
        "r2,Vendor A,Marketing,zq_beta,adnxs.com,,1 year,,,0\n",  # the second says analytics
        "r3,Vendor A,Functional,zq_gamma,adnxs.com,,1 year,,,0\n",  # both: not tracking
        "r4,Vendor A,Analytics,zq_delta,adnxs.com,,1 year,,,0\n",  # not in the second reading
    ]
    ocd = tmp_path / "ocd.csv"
    ocd.write_text(OCD_HEADER + "".join(rows), encoding="utf-8")
    second = tmp_path / "second.csv"
    second.write_text("id,purpose\nr1,marketing\nr2,analytics\nr3,necessary\n", encoding="utf-8")
    unseen = run(ocd, "all", second)["unseen"]
    # adnxs.com is an ad network's domain: every row is called marketing.
    assert unseen["second_reading"] == {
        "rows": 3,
        "agreement": round(2 / 3, 4),
        "rows_where_readings_agree": 2,
        "accuracy_where_readings_agree": 0.5,
    }
    assert run(ocd, "all")["unseen"]["second_reading"]["rows"] == 0
    second.write_text("id,purpose\nr1,advertising\n", encoding="utf-8")
    with pytest.raises(ValueError, match="advertising"):
        run(ocd, "all", second)
    with pytest.raises(SystemExit):
        main(["--ocd", str(ocd), "--second-reading", str(tmp_path / "missing.csv")])
    assert "no such file" in capsys.readouterr().err


def test_the_bundled_second_reading_labels_each_ocd_row_once_with_one_of_our_purposes():
    reading = load_second_reading(SECOND_READING)  # refuses any purpose but our four
    rows = SECOND_READING.read_text(encoding="utf-8").splitlines()[1:]
    assert len(reading) == len(rows) == 584  # each row of the OCD snapshot, once
    assert set(reading.values()) == set(PURPOSES)


# --- A value in a tracker's own format -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "vendor", "category"),
    [
        ("GA1.2.1234567890.1712345678", "Google Analytics", "analytics"),
        ("GA1.1.987654321.1712345678", "Google Analytics", "analytics"),
        ("GS1.1.1712345678.3.1.1712345999.0.0.0", "Google Analytics", "analytics"),
        ("GS2.1.s1712345678$o3$g1$t1712345999$j60$l0$h0", "Google Analytics", "analytics"),
        ("fb.1.1712345678901.1234567890", "Meta", "marketing"),
        ("fb.1.1712345678901.IwAR2xYz-Ab_cd", "Meta", "marketing"),
        ("GCL.1712345678.Cj0KCQjw-abc_DEF", "Google Ads", "marketing"),
        (
            "0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef."
            "1712345678901.1712345678901.1712345678901.1",
            "HubSpot",
            "marketing",
        ),
        ("7ac6d7ac1c7bca42.1712345678.", "Matomo", "analytics"),
        ("1x2y3z|1712345678901|1|1|a.clarity.ms/collect", "Microsoft Clarity", "analytics"),
        # As a header may send it: quoted, or percent-encoded.
        ('"GA1.2.1234567890.1712345678"', "Google Analytics", "analytics"),
        (
            "1x2y3z%7C1712345678901%7C1%7C1%7Ca.clarity.ms%2Fcollect",
            "Microsoft Clarity",
            "analytics",
        ),
    ],
)
def test_a_value_in_a_trackers_own_format_gives_its_purpose(value, vendor, category):
    result = classify("site_cid", "www.example-shop.se", site_domains=SITE, value=value)
    assert (result.category, result.vendor, result.source) == (category, vendor, "rule")
    assert result.confidence == CONFIDENCE["value"]
    assert result.reason.startswith(f"the value has the format of a {vendor}")
    assert value not in result.reason  # the value itself is never quoted


@pytest.mark.parametrize(
    "value",
    [
        "GA1.2.abc.1712345678",  # not digits
        "xGA1.2.1234567890.1712345678",  # not at the start
        "GA1.2.1234567890.1712345678 and more",
        "fb.1.171234567890.123",  # 12 digits: not a millisecond time
        "0123456789abcdef0123456789abcdef",  # any hash
        "7ac6d7ac1c7bca42",  # a hex id alone
        "GCL.",
        "",
        "GA1.2.1234567890.1712345678" + "9" * 300,  # beyond the bound
        "%%%%",
    ],
)
def test_values_that_only_look_like_a_trackers_say_nothing(value):
    result = classify("site_cid", "www.example-shop.se", site_domains=SITE, value=value)
    assert result.category == "unknown"


def test_a_hostile_value_is_read_up_to_the_bound_only():
    # Read whole, this value is no Meta id (a "%" far into it); its first 256 characters are.
    value = "fb.1.1712345678901." + "a" * 1000 + "%%%"
    result = classify("site_cid", "www.example-shop.se", site_domains=SITE, value=value)
    assert (result.category, result.vendor) == ("marketing", "Meta")
    for value in ("%" * 1_000_000, "|" * 1_000_000, "GA1.2." + "1" * 1_000_000):
        result = classify("zq", "www.example-shop.se", site_domains=SITE, value=value)
        assert (result.category, result.guess) == ("unknown", None)


def test_the_name_the_host_and_the_script_come_before_the_value():
    ga = "GA1.2.1234567890.1712345678"
    # A known name keeps its entry; a first-party shape keeps its rule.
    assert classify("_gid", "www.example-shop.se", site_domains=SITE, value=ga).vendor == (
        "Google Analytics"
    )
    assert classify("PHPSESSID", "www.example-shop.se", site_domains=SITE, value=ga).category == (
        "necessary"
    )
    # A tracker's script says who wrote it, whatever the value copies.
    script = classify(
        "site_cid",
        "www.example-shop.se",
        site_domains=SITE,
        setter="https://connect.facebook.net/en_US/fbevents.js",
        value=ga,
    )
    assert (script.category, script.vendor) == ("marketing", "Meta")
