"""Scan targets and settings: private addresses refused unless allowed, --resolve mappings
checked like DNS and matched like Chromium's, and every setting validated before a browser
starts."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from scanner.cli import main
from scanner.config import ScanConfig, ScanError, check_public_target, resolve_host


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://127.1/",
        "http://2130706433/",
        "https://10.1.2.3/",
        "https://192.168.0.10:8443/",
        "https://172.16.5.4/",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/",  # shared address space (carrier-grade NAT)
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[fe80::1]/",
        "https://[fd00::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://localhost/",
        "https://app.localhost/",
    ],
)
def test_private_targets_are_refused(url: str) -> None:
    with pytest.raises(ScanError, match="allow-private"):
        check_public_target(url, {})


def test_resolve_mappings_are_checked_like_dns() -> None:
    with pytest.raises(ScanError, match="allow-private"):
        check_public_target("https://shop.test/", {"shop.test": "127.0.0.1"})
    with pytest.raises(ScanError, match="allow-private"):
        check_public_target("https://www.example.se/", {"*.example.se": "10.0.0.5"})
    with pytest.raises(ScanError, match="allow-private"):
        check_public_target("https://shop.test/", {"*.test": "192.168.1.1"})
    check_public_target("https://www.example.se/", {"www.example.se": "93.184.215.14"})


def test_resolve_wildcards_match_like_chromium() -> None:
    mapping = {"*.shop.test": "10.0.0.1", "*.test": "10.0.0.2"}
    assert resolve_host("a.shop.test", mapping) == ["10.0.0.1"]
    assert resolve_host("A.B.Shop.TEST", mapping) == ["10.0.0.1"]
    # "*.shop.test" does not cover the bare shop.test (nor does Chromium's MAP rule);
    # "*.test" does, as Chromium's does.
    assert resolve_host("shop.test", mapping) == ["10.0.0.2"]
    assert resolve_host("shop.test", {"*.shop.test": "10.0.0.1", "shop.test": "10.0.0.3"}) == [
        "10.0.0.3"
    ]
    assert resolve_host("192.0.2.1", {}) == ["192.0.2.1"]


def test_an_unmapped_unknown_host_is_an_error() -> None:
    with pytest.raises(ScanError, match="Cannot resolve"):
        check_public_target("https://shop.invalid/", {"*.shop.invalid": "93.184.215.14"})


def test_allow_private_and_private_hosts() -> None:
    config = ScanConfig(
        url="https://shop.test/",
        chromium=sys.executable,
        resolve={"*.test": "127.0.0.1", "shop.test": "127.0.0.1", "v6.test": "::1"},
        allow_private=True,
    )
    config.validate()
    config.allow_private = False
    with pytest.raises(ScanError, match="allow-private"):
        config.validate()
    # Allowed for the named hosts alone; a pattern with a port covers that port only.
    config.private_hosts = ("*.test",)
    config.validate()
    assert config.private_allowed("a.shop.test", 8443)
    assert not config.private_allowed("127.0.0.1", 80)
    config.private_hosts = ("shop.test:8443",)
    assert config.private_allowed("shop.test", 8443)
    assert not config.private_allowed("shop.test", 6379)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url": "ftp://x.se/"}, "Not an http"),
        ({"engine": "firefox"}, "--engine"),
        ({"remote": "http://grid:4444"}, "--remote"),
        ({"phases": ("during",)}, "Unknown phases"),
        ({"phases": ()}, "Unknown phases"),
        ({"max_pages": 0}, "--max-pages"),
        ({"depth": -1}, "--depth"),
        ({"total_timeout": 0}, "--timeout"),
        ({"page_timeout": float("nan")}, "--page-timeout"),
        ({"settle_ms": -1}, "--wait"),
        ({"resolve": {"x.se": "nope"}}, "not an IP"),
        ({"resolve": {"a.test, MAP * 10.0.0.1": "127.0.0.1"}}, "not a host name"),
        ({"resolve": {"*.test": "localhost"}}, "not an IP"),
        ({"chromium": "/nonexistent/chromium"}, "Chromium not found"),
    ],
)
def test_config_validation(change: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {
        "url": "https://www.example.se/",
        "chromium": sys.executable,
        "allow_private": True,
    } | change
    with pytest.raises(ScanError, match=message):
        ScanConfig(**settings).validate()


def test_cli_refuses_private_targets_before_any_browser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (
        ["https://127.0.0.1/"],
        ["http://localhost:8080/"],
        ["https://shop.test/", "--resolve", "shop.test=127.0.0.1"],
    ):
        assert main([*argv, "--chromium", sys.executable, "--quiet"]) == 2
        assert "--allow-private" in capsys.readouterr().err
    assert main(["https://x.se/", "--resolve", "x.se"]) == 2
    assert "HOST=IP" in capsys.readouterr().err
