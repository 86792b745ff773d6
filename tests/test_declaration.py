"""The declaration file: what validates, how errors name fields, defaults, and revisions."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from consent_server.extensions import db
from consent_server.sites.models import Site, SiteRevision
from declaration.loader import (
    DeclarationError,
    load_declaration,
    parse_declaration_text,
    read_declaration,
)
from declaration.schema import DEFAULT_CATEGORIES
from tests.support.apps import EXAMPLE, apply_data, example_data

MINIMAL = {"site": "shop-one", "name": "Shop One AB", "domains": ["www.shop.se"]}


def errors_of(data: Any) -> dict[str, list[str]]:
    """The field errors of an invalid declaration given as a mapping."""
    with pytest.raises(DeclarationError) as caught:
        load_declaration(data)
    return caught.value.errors


def with_changes(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data.update(changes)
    return data


def test_the_example_declaration_validates_with_its_categories_and_cookies():
    decl = read_declaration(EXAMPLE)
    assert decl.site == "demo-shop"
    assert decl.category_keys() == ["necessary", "preferences", "analytics", "marketing"]
    assert decl.data["languages"] == ["sv", "en"]
    assert decl.data["default_language"] == "sv"
    cookies = {c.get("name") or c["name_pattern"]: c for c in decl.data["cookies"]}
    assert cookies["_ga"]["lifetime"] == "P2Y" and cookies["_ga"]["category"] == "analytics"
    assert cookies["^_ga_[A-Z0-9]+$"]["category"] == "analytics"
    assert cookies["sessionid"]["lifetime"] == "session"
    assert decl.data["categories"][0]["required"] is True
    assert len(decl.content_hash()) == 64


def test_a_minimal_declaration_gets_four_default_categories_and_languages():
    data = load_declaration(MINIMAL).data
    assert [c["key"] for c in data["categories"]] == [c["key"] for c in DEFAULT_CATEGORIES]
    assert [c["required"] for c in data["categories"]] == [True, False, False, False]
    assert data["default_language"] == "en"
    assert data["languages"] == ["en"]
    assert data["consent_lifetime"] == "P12M"
    assert data["cookies"] == [] and data["texts"] == {} and data["scan"] is None


def test_languages_alone_make_the_first_one_the_default():
    data = load_declaration(with_changes(languages=["sv", "en"])).data
    assert data["default_language"] == "sv"
    assert data["languages"] == ["sv", "en"]


def test_default_language_alone_is_the_only_language():
    data = load_declaration(with_changes(default_language="sv")).data
    assert data["languages"] == ["sv"]


def test_domains_are_lower_cased_and_deduplicated():
    data = load_declaration(with_changes(domains=["WWW.Shop.se", "www.shop.se", "*.shop.se"]))
    assert data.data["domains"] == ["www.shop.se", "*.shop.se"]


def test_scan_block_gets_its_defaults():
    data = load_declaration(with_changes(scan={"url": "https://www.shop.se/"})).data
    assert data["scan"] == {
        "url": "https://www.shop.se/",
        "timezone": "UTC",
        "max_pages": 50,
        "phases": ["pre-consent", "after-reject", "after-accept"],
        "fail_on": "high",
        "alerts": {},
    }


@pytest.mark.parametrize(
    ("changes", "path", "says"),
    [
        ({"site": "Shop_One"}, "site", "3-64 characters"),
        ({"site": "ab"}, "site", "3-64 characters"),
        ({"site": "shop-one\n"}, "site", "3-64 characters"),
        ({"name": ""}, "name", "between 1 and 200"),
        ({"name": "Shop\x00One"}, "name", "control characters"),
        ({"domains": []}, "domains", "between 1 and 100"),
        ({"domains": ["https://www.shop.se"]}, "domains.0", "Not a host name"),
        ({"domains": ["www.shop.se\n"]}, "domains.0", "Not a host name"),
        ({"policy_url": "javascript:alert(1)"}, "policy_url", "URL"),
        ({"consent_lifetime": "12 months"}, "consent_lifetime", "ISO-8601 duration"),
        ({"consent_lifetime": "P0D"}, "consent_lifetime", "must be positive"),
        ({"consent_lifetime": "P10000000Y"}, "consent_lifetime", "out of range"),
        ({"consent_lifetime": "P12M\n"}, "consent_lifetime", "ISO-8601 duration"),
        (
            {"cookies": [{"name": "_ga", "category": "tracking"}]},
            "cookies.0.category",
            "Unknown category 'tracking'",
        ),
        (
            {"cookies": [{"name": "_ga", "name_pattern": "^_ga$", "category": "analytics"}]},
            "cookies.0.name",
            "exactly one of name or name_pattern",
        ),
        (
            {"cookies": [{"category": "analytics"}]},
            "cookies.0.name",
            "exactly one of name or name_pattern",
        ),
        (
            {"cookies": [{"name_pattern": "^_ga_(", "category": "analytics"}]},
            "cookies.0.name_pattern",
            "Not a name pattern RE2 can run",
        ),
        (
            {"cookies": [{"name": "_ga", "category": "analytics", "lifetime": "2 years"}]},
            "cookies.0.lifetime",
            "ISO-8601 duration",
        ),
        (
            {"cookies": [{"name": "_ga", "category": "analytics", "domain": "a b"}]},
            "cookies.0.domain",
            "Not a host name",
        ),
        (
            {"cookies": [{"name": "_ga", "category": "analytics", "colour": "red"}]},
            "cookies.0.colour",
            "Unknown field",
        ),
        (
            {"categories": [{"key": "necessary", "required": False}]},
            "categories.0.required",
            "always required",
        ),
        (
            {"categories": [{"key": "necessary"}, {"key": "stats"}, {"key": "stats"}]},
            "categories",
            "Duplicate category keys: stats",
        ),
        ({"categories": [{"key": "analytics"}]}, "categories", "'necessary' category"),
        ({"categories": [{"key": "Necessary"}]}, "categories.0.key", "Must match"),
        (
            {"categories": [{"key": "necessary", "google_consent_mode": ["cookies"]}]},
            "categories.0.google_consent_mode.0",
            "Must be one of",
        ),
        ({"homepage": "https://www.shop.se"}, "homepage", "Unknown field"),
        ({"texts": {"de": {"title": "Kekse"}}}, "texts.de", "not listed in languages"),
        ({"texts": {"en": {"titel": "Cookies"}}}, "texts.en.titel", "Unknown field"),
        ({"texts": {"en": {"title": "x" * 5001}}}, "texts.en.title", "5000"),
        ({"texts": {"EN!": {"title": "x"}}}, "texts.EN!", "Not a language code"),
        ({"languages": ["sv", "sv"]}, "languages", "Duplicate languages"),
        ({"languages": ["sv"], "default_language": "en"}, "default_language", "one of languages"),
        (
            {"scan": {"url": "https://www.shop.se/", "schedule": "61 * * * *"}},
            "scan.schedule",
            "Not a valid cron expression",
        ),
        (
            {"scan": {"url": "https://www.shop.se/", "timezone": "Europe/Gothenburg"}},
            "scan.timezone",
            "Unknown time zone",
        ),
        (
            {"scan": {"url": "https://www.shop.se/", "timezone": "x" * 300}},
            "scan.timezone",
            "Unknown time zone",
        ),
        (
            {"scan": {"url": "https://www.shop.se/", "timezone": "../../../etc/passwd"}},
            "scan.timezone",
            "Unknown time zone",
        ),
        ({"scan": {"schedule": "0 3 * * 1"}}, "scan.url", "Missing data"),
        (
            {"scan": {"url": "https://www.shop.se/", "fail_on": "severe"}},
            "scan.fail_on",
            "Must be one of",
        ),
        (
            {"scan": {"url": "https://www.shop.se/", "alerts": {"email": ["not-an-address"]}}},
            "scan.alerts.email.0",
            "email",
        ),
    ],
)
def test_an_invalid_declaration_names_the_field_and_what_is_wrong(changes, path, says):
    errors = errors_of(with_changes(**changes))
    assert path in errors, errors
    assert says.lower() in " ".join(errors[path]).lower(), errors[path]


def test_every_error_is_reported_at_once():
    errors = errors_of(
        with_changes(
            site="X",
            consent_lifetime="forever",
            cookies=[{"name": "a", "category": "nope"}, {"name": "b", "category": "nope2"}],
        )
    )
    assert {"site", "consent_lifetime"} <= set(errors)
    # Cookie categories are checked once the fields themselves are valid.
    errors = errors_of(
        with_changes(cookies=[{"name": "a", "category": "nope"}, {"name": "b", "category": "x"}])
    )
    assert set(errors) == {"cookies.0.category", "cookies.1.category"}


def test_the_error_message_lists_each_field_path():
    with pytest.raises(DeclarationError) as caught:
        parse_declaration_text("site: X\nname: A\ndomains: [a.se]\n", source="site.yaml")
    text = str(caught.value)
    assert text.startswith("site.yaml: invalid declaration")
    assert "site: Must be 3-64 characters" in text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("site: shop-one\nname: [unclosed\ndomains: [a.se]\n", "at line 3"),
        ("site: shop-one\n  name: x\n", "at line 2, column 7"),
        ("- site: shop-one\n- name: x\n", "must be a mapping"),
        ("just a sentence", "must be a mapping"),
        ("", "must be a mapping"),
        ("site: shop-one\nsite: shop-two\nname: x\ndomains: [a.se]\n", "'site' appears twice"),
        ("a: !!python/object/apply:os.system ['true']\n", "could not determine a constructor"),
        ("[" * 5000, "nested too deeply"),
    ],
)
def test_unreadable_yaml_is_a_file_error_with_the_line(text, says):
    with pytest.raises(DeclarationError) as caught:
        parse_declaration_text(text)
    assert list(caught.value.errors) == ["(file)"]
    assert says in caught.value.errors["(file)"][0]


def test_yaml_alias_bombs_are_refused_before_validation():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(DeclarationError) as caught:
        parse_declaration_text("\n".join(lines) + "\n")
    assert "expands to more than" in caught.value.errors["(file)"][0]


def test_a_self_referencing_yaml_value_is_refused():
    with pytest.raises(DeclarationError) as caught:
        parse_declaration_text("site: &s [*s]\n")
    assert "expands to more than" in caught.value.errors["(file)"][0]


def test_bytes_that_are_not_utf8_are_a_file_error():
    with pytest.raises(DeclarationError) as caught:
        parse_declaration_text(b"site: caf\xe9\n")
    assert "Not UTF-8" in caught.value.errors["(file)"][0]


def test_a_missing_file_is_a_file_error(tmp_path: Path):
    with pytest.raises(DeclarationError) as caught:
        read_declaration(tmp_path / "nope.yaml")
    assert "Cannot read the file" in caught.value.errors["(file)"][0]
    assert caught.value.source == str(tmp_path / "nope.yaml")


def test_hostile_texts_are_kept_verbatim():
    hostile = "<script>alert('x')</script>\x00 '; DROP TABLE sites;-- \u202egnp.exe"
    data = load_declaration(with_changes(texts={"en": {"title": hostile, "body": "b" * 5000}})).data
    assert data["texts"]["en"]["title"] == hostile
    assert len(data["texts"]["en"]["body"]) == 5000


# -- revisions --------------------------------------------------------------------------------


def _state(app: Flask, key: str) -> tuple[int, list[str], dict | None, str]:
    with app.app_context():
        site = db.session.query(Site).filter_by(key=key).one()
        count = db.session.query(SiteRevision).filter_by(site_id=site.id).count()
        return count, site.domains, site.scan, site.current_revision.content_hash


def test_first_apply_creates_the_site_with_revision_1(app: Flask):
    result = apply_data(app, example_data())
    assert (result.created, result.revision, result.new_revision, result.changed) == (
        True,
        1,
        True,
        True,
    )
    assert _state(app, "demo-shop")[0] == 1


def test_reapplying_the_identical_file_changes_nothing(app: Flask):
    data = example_data()
    data["scan"] = {"url": "https://demo.example.se/", "schedule": "0 3 * * 1"}
    apply_data(app, data)
    before = _state(app, "demo-shop")
    again = apply_data(app, data)
    assert (again.created, again.new_revision, again.changed, again.revision) == (
        False,
        False,
        False,
        1,
    )
    assert _state(app, "demo-shop") == before


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["cookies"].append({"name": "_hjid", "category": "analytics"}),
        lambda d: d["cookies"].pop(),
        lambda d: d["cookies"][3].update(lifetime="P1Y"),
        lambda d: d["texts"]["en"].update(title="We use cookies, really"),
        lambda d: d["categories"][2]["title"].update(en="Statistics"),
        lambda d: d.update(consent_lifetime="P6M"),
        lambda d: d.update(policy_url="https://demo.example.se/privacy"),
    ],
    ids=[
        "cookie-added",
        "cookie-removed",
        "lifetime",
        "text",
        "category-title",
        "lifetime-p6m",
        "policy-url",
    ],
)
def test_a_change_visitors_see_makes_a_new_revision(app: Flask, change):
    data = example_data()
    apply_data(app, data)
    old_hash = _state(app, "demo-shop")[3]
    change(data)
    result = apply_data(app, data)
    assert (result.created, result.new_revision, result.changed, result.revision) == (
        False,
        True,
        True,
        2,
    )
    count, _domains, _scan, new_hash = _state(app, "demo-shop")
    assert count == 2 and new_hash != old_hash


def test_changed_domains_update_the_site_but_keep_the_revision(app: Flask):
    data = example_data()
    apply_data(app, data)
    data["domains"] = ["shop.example.se"]
    result = apply_data(app, data)
    assert (result.new_revision, result.changed, result.revision) == (False, True, 1)
    count, domains, _scan, _hash = _state(app, "demo-shop")
    assert count == 1 and domains == ["shop.example.se"]


def test_changed_scan_block_updates_the_site_but_keeps_the_revision(app: Flask):
    data = example_data()
    apply_data(app, data)
    data["scan"] = {"url": "https://demo.example.se/", "schedule": "0 4 * * *", "max_pages": 5}
    result = apply_data(app, data)
    assert (result.new_revision, result.changed, result.revision) == (False, True, 1)
    count, _domains, scan, _hash = _state(app, "demo-shop")
    assert count == 1 and scan["schedule"] == "0 4 * * *" and scan["max_pages"] == 5
    del data["scan"]
    result = apply_data(app, data)
    assert (result.new_revision, result.changed) == (False, True)
    assert _state(app, "demo-shop")[2] is None


def test_going_back_to_older_content_is_a_new_revision_again(app: Flask):
    data = example_data()
    apply_data(app, data)
    data["consent_lifetime"] = "P6M"
    apply_data(app, data)
    data["consent_lifetime"] = "P12M"
    result = apply_data(app, data)
    assert (result.new_revision, result.revision) == (True, 3)
