"""Property-based fuzzing of every operation in the app's own OpenAPI document (schemathesis),
then of valid consents and declarations with one part replaced by arbitrary JSON (Hypothesis).

The app runs with TESTING on, so an unhandled exception is raised into the test instead of
becoming a 500: any bug the fuzzing provokes fails here with its traceback.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import yaml
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from consent_server.consent_log.models import ConsentReceipt
from consent_server.sites.models import SiteRevision
from consent_server.sites.tokens import create_token
from tests.support.apps import EXAMPLE, demo_app, make_app, release, row_count
from tests.support.consent import consent_body

# A modest, fixed set of cases by default, so a failure reproduces on every run; fuzz harder
# and with fresh randomness with CONSENT_FUZZ_EXAMPLES=500 CONSENT_FUZZ_RANDOM=1.
FUZZ = settings(
    max_examples=int(os.environ.get("CONSENT_FUZZ_EXAMPLES", "12")),
    deadline=None,
    derandomize=not os.environ.get("CONSENT_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=list(HealthCheck),
)
# The property tests below are cheap (no schema generation): more cases for the same time.
DEEP = settings(FUZZ, max_examples=5 * FUZZ.max_examples)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on its own SQLite file, with the demo site, a receipt and an operator token."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    app = demo_app(tmp)
    with app.app_context():
        app.config["FUZZ_TOKEN"] = create_token(None, "admin")[1]
    resp = app.test_client().post("/api/v1/sites/demo-shop/consents", json=consent_body())
    assert resp.status_code == 201
    app.config["FUZZ_CONSENT_ID"] = resp.get_json()["consent_id"]
    yield app
    release(app)


# The document is read from an app without a database at collection time; the cases run on
# `fuzz_app` (schemathesis' lazy from_fixture loader does not work with this pytest version).
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json",
    make_app(Path(tempfile.gettempdir()) / "cm-fuzz-spec", "sqlite://"),  # nothing is written
)


def _auth(app: Flask) -> dict[str, str]:
    return {"Authorization": f"Bearer {app.config['FUZZ_TOKEN']}"}


@schema.parametrize()
@FUZZ
def test_no_operation_answers_with_a_server_error(case, fuzz_app: Flask):
    case.call_and_validate(app=fuzz_app, headers=_auth(fuzz_app), checks=[not_a_server_error])


@schema.parametrize()
@FUZZ
def test_no_operation_on_the_existing_site_answers_with_a_server_error(case, fuzz_app: Flask):
    # Random site keys mostly meet a 404 early; on the real site the body and query are judged.
    if "site" in (case.path_parameters or {}):
        case.path_parameters["site"] = "demo-shop"
    if "consent_id" in (case.path_parameters or {}):
        case.path_parameters["consent_id"] = fuzz_app.config["FUZZ_CONSENT_ID"]
    case.call_and_validate(app=fuzz_app, headers=_auth(fuzz_app), checks=[not_a_server_error])


# -- deeper: valid requests with one part replaced by anything JSON can hold ------------------


ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
CONSENT_FIELDS = ["consent_id", "revision", "decisions", "method", "language", "page_url", "gpc"]


@DEEP
@given(
    field=st.sampled_from([*CONSENT_FIELDS, "extra"]),
    value=ANY_JSON,
    drop=st.booleans(),
)
def test_a_consent_with_any_one_field_changed_is_recorded_or_refused_cleanly(
    fuzz_app: Flask, field: str, value: object, drop: bool
):
    body = consent_body()
    if drop and field in body:
        del body[field]
    else:
        body[field] = value
    before = row_count(fuzz_app, ConsentReceipt)
    resp = fuzz_app.test_client().post("/api/v1/sites/demo-shop/consents", json=body)
    after = row_count(fuzz_app, ConsentReceipt)
    if resp.status_code == 201:
        assert after == before + 1
    else:
        assert resp.status_code in (400, 422), resp.data
        assert set(resp.get_json()) >= {"code", "status", "message"}
        assert after == before


@DEEP
@given(
    path=st.sampled_from(
        [
            ("name",),
            ("domains",),
            ("consent_lifetime",),
            ("languages",),
            ("categories",),
            ("categories", 1),
            ("categories", 2, "title"),
            ("cookies",),
            ("cookies", 0),
            ("cookies", 0, "lifetime"),
            ("cookies", 4, "name_pattern"),
            ("texts",),
            ("texts", "sv"),
            ("texts", "sv", "title"),
            ("scan",),
            ("policy_url",),
        ]
    ),
    value=ANY_JSON,
)
def test_a_declaration_with_any_one_part_changed_is_applied_or_refused_cleanly(
    fuzz_app: Flask, path: tuple, value: object
):
    data = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    before = row_count(fuzz_app, SiteRevision)
    resp = fuzz_app.test_client().put("/api/v1/sites/demo-shop", json=data, headers=_auth(fuzz_app))
    after = row_count(fuzz_app, SiteRevision)
    if resp.status_code == 200:
        assert after in (before, before + 1)
        assert fuzz_app.test_client().get("/api/v1/sites/demo-shop/config").status_code == 200
    else:
        assert resp.status_code == 422, resp.data
        assert resp.get_json()["errors"]["json"]
        assert after == before
