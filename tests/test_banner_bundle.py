"""The built banner bundle: not stale, small, safely cached, free of eval."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from tests.support.apps import ROOT, make_app, missing

BANNER = ROOT / "static" / "banner"
DIST = BANNER / "dist"
MAX_GZIP = 7700  # bytes, banner.js + its CSS at gzip -9


def manifest() -> dict:
    return json.loads((DIST / "manifest.json").read_text())


def test_dist_is_built_from_the_current_sources():
    if not shutil.which("node"):
        missing("node is not installed (needed to check the banner bundle)")
    result = subprocess.run(
        [sys.executable, str(BANNER / "build.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_bundle_is_small():
    m = manifest()
    js = (DIST / m["js"]).read_bytes()
    css = (DIST / m["css"]).read_bytes()
    assert js == (DIST / "banner.js").read_bytes()
    assert css == (DIST / "banner.css").read_bytes()
    total = len(gzip.compress(js, 9, mtime=0)) + len(gzip.compress(css, 9, mtime=0))
    assert total == m["gzip9"]["total"]
    assert total <= MAX_GZIP, f"banner is {total} bytes gzipped (budget {MAX_GZIP})"


def test_bundle_loads_its_hashed_css_and_has_no_eval():
    m = manifest()
    js = (DIST / "banner.js").read_text(encoding="utf-8")
    assert m["css"] in js and "__CSS__" not in js
    for needle in (
        "eval(",
        "new Function",
        "Function(",
        "innerHTML",
        "insertAdjacentHTML",
        "document.write",
    ):
        assert needle not in js, needle
    assert 'setTimeout("' not in js and "setTimeout('" not in js


@pytest.fixture
def bundle_app(tmp_path: Path) -> Flask:
    return make_app(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3")


def test_cache_headers(bundle_app: Flask):
    client = bundle_app.test_client()
    m = manifest()
    entry = client.get("/banner/banner.js")
    assert entry.status_code == 200
    assert entry.mimetype in {"text/javascript", "application/javascript"}
    assert entry.headers["Cache-Control"] == "public, max-age=300"
    assert "immutable" not in entry.headers["Cache-Control"]
    assert entry.data == (DIST / m["js"]).read_bytes()
    for name in (m["js"], m["css"]):
        hashed = client.get(f"/banner/{name}")
        assert hashed.status_code == 200
        assert hashed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert hashed.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"/banner/{m['css']}").mimetype == "text/css"
    # Revalidation of the short-lived entry costs a 304, not the whole file.
    again = client.get("/banner/banner.js", headers={"If-None-Match": entry.headers["ETag"]})
    assert again.status_code == 304
    for name in ("manifest.json", "banner.0000000000.js", "../banner/build.py", "banner.JS"):
        assert client.get(f"/banner/{name}").status_code == 404


def test_languages_are_separate_files():
    m = manifest()
    js = (DIST / "banner.js").read_text(encoding="utf-8")
    assert "__I18N__" not in js
    assert set(m["i18n"]) == {"sv", "en", "da", "nb", "fi", "de", "fr", "es", "nl", "pl"}
    for lang, name in m["i18n"].items():
        texts = json.loads((DIST / name).read_text(encoding="utf-8"))
        # The bundle names the file but does not carry its texts.
        assert name.removeprefix("i18n/").removesuffix(".json") in js
        assert texts["reject_all"] not in js, lang
        assert m["gzip9_i18n"][lang] < 1000


def test_language_file_cache_headers(bundle_app: Flask):
    client = bundle_app.test_client()
    for name in manifest()["i18n"].values():
        response = client.get(f"/banner/{name}")
        assert response.status_code == 200 and response.mimetype == "application/json"
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    for name in ("i18n/sv.json", "i18n/xx.0000000000.json", "i18n/..%2Fmanifest.json"):
        assert client.get(f"/banner/{name}").status_code == 404


def test_npm_package_lists_the_built_files():
    if not shutil.which("npm"):
        missing("npm is not installed (needed to check the banner's npm package)")
    result = subprocess.run(
        ["npm", "pack", "--dry-run", "--json", "--ignore-scripts"],
        cwd=BANNER,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    packed = json.loads(result.stdout[result.stdout.index("[") :])[0]
    m = manifest()
    expected = {"package.json", "dist/banner.js", "dist/banner.css", "dist/banner.mjs"}
    expected |= {f"dist/{m['js']}", f"dist/{m['css']}", "dist/manifest.json"}
    expected |= {f"dist/{name}" for name in m["i18n"].values()}
    assert {f["path"] for f in packed["files"]} == expected
    package = json.loads((BANNER / "package.json").read_text())
    assert packed["name"] == package["name"] and package["type"] == "module"
    assert package["exports"]["."] == "./dist/banner.mjs"
    esm = (DIST / "banner.mjs").read_text(encoding="utf-8")
    assert "export{" in esm.replace(" ", "") and m["css"] in esm
