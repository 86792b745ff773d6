"""Marshmallow schemas at the HTTP edge; they also generate the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from consent_server.services.receipts import METHODS
from scanner.declaration import LANGUAGE_RE, SITE_KEY_RE, FullMatch

UUID4_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


class StrictBoolean(fields.Boolean):
    """JSON true or false only: 1, 0, 1.0 and "true" are refused (1 == True in Python)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class UtcDateTime(fields.AwareDateTime):
    """An ISO-8601 date or time, UTC when it has no offset, converted to UTC.

    Stored times are UTC and SQLite compares them as text, so a bound must be UTC as well.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata", {"description": "ISO-8601 date or date-time; UTC when no offset is given."}
        )
        super().__init__(default_timezone=dt.UTC, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError as exc:
            raise ValidationError("Date out of range.") from exc


class _In(Schema):
    class Meta:
        unknown = RAISE


class SitePathSchema(_In):
    """The site key in a URL."""

    site = fields.String(required=True, validate=FullMatch(SITE_KEY_RE))


class ConfigQuerySchema(_In):
    """Query of the banner configuration."""

    lang = fields.String(validate=validate.Length(max=35))


class ConsentCreateSchema(_In):
    """One consent event from the banner."""

    consent_id = fields.String(
        required=True,
        validate=FullMatch(UUID4_RE, error="Must be a lower-case UUID version 4."),
    )
    revision = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2**31 - 1))
    decisions = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=32)),
        values=StrictBoolean(),
        required=True,
        validate=validate.Length(max=32),
    )
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    language = fields.String(validate=FullMatch(LANGUAGE_RE, error="Not a language code."))
    page_url = fields.Url(
        schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2048)
    )
    gpc = StrictBoolean(load_default=False)


class ReceiptCreatedSchema(Schema):
    """The answer to a recorded consent."""

    receipt_id = fields.String(required=True)
    consent_id = fields.String(required=True)
    recorded_at = fields.String(required=True)
    receipt = fields.String(required=True, metadata={"description": "Compact JWS (EdDSA)."})
    record_hash = fields.String(required=True)


class HistoryItemSchema(Schema):
    """One receipt in a browser's history."""

    record = fields.Dict(required=True)
    record_hash = fields.String(required=True)
    seal = fields.Integer(allow_none=True)


class HistorySchema(Schema):
    """A browser's own receipts."""

    consent_id = fields.String(required=True)
    receipts = fields.List(fields.Nested(HistoryItemSchema), required=True)


class ConsentIdPathSchema(_In):
    """The consent id in a URL."""

    consent_id = fields.String(required=True, validate=FullMatch(UUID4_RE))


class BannerConfigSchema(Schema):
    """The banner configuration of one revision in one language."""

    site = fields.String()
    name = fields.String()
    revision = fields.Integer()
    revision_hash = fields.String()
    language = fields.String()
    languages = fields.List(fields.String())
    policy_url = fields.String(allow_none=True)
    consent_lifetime = fields.String()
    consent_lifetime_days = fields.Integer()
    categories = fields.List(fields.Dict())
    cookies = fields.List(fields.Dict())
    texts = fields.Dict()


class ApplyResultSchema(Schema):
    """What applying a declaration did."""

    site = fields.String()
    created = fields.Boolean()
    revision = fields.Integer()
    new_revision = fields.Boolean()
    changed = fields.Boolean()


class SiteSchema(Schema):
    """A site with its current revision."""

    site = fields.String()
    name = fields.String()
    domains = fields.List(fields.String())
    scan = fields.Dict(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    revision = fields.Integer(allow_none=True)
    revision_hash = fields.String(allow_none=True)
    revision_created_at = fields.DateTime(allow_none=True)
    declaration = fields.Dict(allow_none=True)


class ExportQuerySchema(_In):
    """Range and format of an export."""

    since = UtcDateTime()
    until = UtcDateTime()
    format = fields.String(load_default="jsonl", validate=validate.OneOf(["jsonl", "csv"]))


class SealOutSchema(Schema):
    """A seal as published."""

    sequence = fields.Integer()
    payload = fields.Dict()
    signature = fields.String()
    kid = fields.String()
    leaves = fields.String(metadata={"description": "base64 of (uuid 16 B + sha256 32 B) per leaf"})


class SealListSchema(Schema):
    """A site's seals."""

    site = fields.String()
    seals = fields.List(fields.Nested(SealOutSchema))


class StatsQuerySchema(_In):
    """Range and bucket of statistics."""

    since = UtcDateTime()
    until = UtcDateTime()
    interval = fields.String(load_default="day", validate=validate.OneOf(["day"]))


class StatsBucketSchema(Schema):
    """Counts of one day."""

    date = fields.String()
    total = fields.Integer()
    methods = fields.Dict(keys=fields.String(), values=fields.Integer())
    granted = fields.Dict(keys=fields.String(), values=fields.Integer())
    grant_rate = fields.Dict(keys=fields.String(), values=fields.Float())


class StatsSchema(Schema):
    """Consent statistics of a site."""

    site = fields.String()
    interval = fields.String()
    categories = fields.List(fields.String())
    buckets = fields.List(fields.Nested(StatsBucketSchema))


class JwksSchema(Schema):
    """A JSON Web Key Set."""

    keys = fields.List(fields.Dict())


class HealthSchema(Schema):
    """Liveness and readiness."""

    status = fields.String()
    database = fields.String()


class ScanListQuerySchema(_In):
    """Paging and filter of a site's scans."""

    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    status = fields.String(validate=validate.OneOf(["queued", "running", "done", "failed"]))


class ScanSummarySchema(Schema):
    """A scan as listed."""

    id = fields.Integer()
    site = fields.String()
    status = fields.String(metadata={"description": "queued, running, done or failed"})
    trigger = fields.String(metadata={"description": "schedule, manual or api"})
    scheduled_for = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    elapsed_seconds = fields.Float(allow_none=True)
    attempts = fields.Integer()
    worker = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    pages = fields.Integer(allow_none=True)
    cookies = fields.Integer(allow_none=True)
    storage_items = fields.Integer(allow_none=True)
    finding_counts = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True)
    alert = fields.Dict(allow_none=True)


class ScanListSchema(Schema):
    """A site's scans, newest first."""

    site = fields.String()
    scans = fields.List(fields.Nested(ScanSummarySchema))


class ScanSchema(ScanSummarySchema):
    """A scan with its settings, findings, observed cookies and storage, and its report."""

    settings = fields.Dict()
    revision = fields.Integer(allow_none=True)
    findings = fields.List(fields.Dict())
    observed = fields.List(fields.Dict())
    report = fields.Dict(allow_none=True, metadata={"description": "See docs/scan-report.md."})


class ScanDiffSchema(Schema):
    """What changed since the site's previous finished scan."""

    site = fields.String()
    scan = fields.Integer()
    previous = fields.Integer(allow_none=True)
    cookies = fields.Dict(metadata={"description": "{new: [...], gone: [...]}"})
    findings = fields.Dict(metadata={"description": "{new: [...], resolved: [...]}"})


class ReportLinkQuerySchema(_In):
    """A signed link to a report, as sent in alerts."""

    expires = fields.String(validate=validate.Length(max=12))
    signature = fields.String(validate=validate.Length(max=64))
