"""Request and response schemas of scans."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from consent_server.clock import as_utc
from consent_server.schemas import UtcDateTime, _In


class ScanListQuerySchema(_In):
    """Paging and filter of a site's scans."""

    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    status = fields.String(validate=validate.OneOf(["queued", "running", "done", "failed"]))


class StoredDateTime(fields.DateTime):
    """A stored time, dumped as aware UTC (SQLite gives naive UTC back)."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return super()._serialize(as_utc(value), attr, obj, **kwargs)


class ActiveWaiverSchema(Schema):
    """The waiver or acknowledgement active for a finding's fingerprint."""

    id = fields.Integer()
    kind = fields.String(attribute="action", metadata={"description": "acknowledge or waive"})
    reason = fields.String()
    expires_at = StoredDateTime()
    by = fields.String(attribute="actor")
    created_at = StoredDateTime()


class ScanFindingSchema(Schema):
    """One finding of a scan, as stored."""

    type = fields.String()
    severity = fields.String()
    message = fields.String()
    cookie = fields.String(allow_none=True)
    domain = fields.String(allow_none=True)
    phase = fields.String(allow_none=True)
    page = fields.Function(lambda f: (f.data or {}).get("page"))
    fingerprint = fields.String()
    waiver = fields.Function(
        lambda f: ActiveWaiverSchema().dump(w) if (w := getattr(f, "waiver", None)) else None,
        allow_none=True,
        metadata={"description": "The active waiver or acknowledgement, in a scan's document."},
    )


class ScanItemSchema(Schema):
    """One cookie or storage item a scan observed."""

    kind = fields.String(
        metadata={
            "description": "cookie, local (localStorage), session (sessionStorage) or indexeddb"
        }
    )
    name = fields.String()
    domain = fields.String(allow_none=True)
    party = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    classified_by = fields.String(allow_none=True)
    lifetime_class = fields.String(allow_none=True)
    requested_seconds = fields.Float(allow_none=True)
    phases = fields.List(fields.String())


class ScanSummarySchema(Schema):
    """A scan as listed (dumped from the stored scan)."""

    id = fields.Integer()
    site = fields.Function(lambda scan: scan.site.key, metadata={"type": "string"})
    status = fields.String(metadata={"description": "queued, running, done or failed"})
    trigger = fields.String(metadata={"description": "schedule, manual or api"})
    scheduled_for = StoredDateTime(allow_none=True)
    created_at = StoredDateTime()
    started_at = StoredDateTime(allow_none=True)
    finished_at = StoredDateTime(allow_none=True)
    elapsed_seconds = fields.Float(allow_none=True)
    attempts = fields.Integer()
    worker = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    url = fields.Function(lambda scan: (scan.settings or {}).get("url"), allow_none=True)
    pages = fields.Integer(allow_none=True)
    cookies = fields.Integer(attribute="cookie_count", allow_none=True)
    storage_items = fields.Integer(attribute="storage_count", allow_none=True)
    finding_counts = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True)
    alert = fields.Function(
        lambda scan: (
            {"state": scan.alert_state, "result": scan.alert_result} if scan.alert_state else None
        ),
        allow_none=True,
    )


class ScanListSchema(Schema):
    """A site's scans, newest first."""

    site = fields.String()
    scans = fields.List(fields.Nested(ScanSummarySchema))


class ScanSchema(ScanSummarySchema):
    """A scan with its settings, findings, observed cookies and storage, and its report."""

    settings = fields.Dict()
    revision = fields.Integer(allow_none=True)
    findings = fields.List(fields.Nested(ScanFindingSchema))
    waived = fields.Integer(
        metadata={"description": "Findings with an active waiver or acknowledgement."}
    )
    observed = fields.List(fields.Nested(ScanItemSchema))
    report = fields.Dict(allow_none=True, metadata={"description": "See docs/scan-report.md."})


class CookieChangesSchema(Schema):
    """Cookies and storage items that appeared or went away."""

    new = fields.List(fields.Nested(ScanItemSchema))
    gone = fields.List(fields.Nested(ScanItemSchema))


class FindingChangesSchema(Schema):
    """Findings that are new or resolved."""

    new = fields.List(fields.Nested(ScanFindingSchema))
    resolved = fields.List(fields.Nested(ScanFindingSchema))


class ScanDiffSchema(Schema):
    """What changed since the site's previous finished scan."""

    site = fields.String()
    scan = fields.Integer()
    previous = fields.Integer(allow_none=True)
    cookies = fields.Nested(CookieChangesSchema)
    findings = fields.Nested(FindingChangesSchema)


class ReportLinkQuerySchema(_In):
    """A signed link to a report, as sent in alerts."""

    expires = fields.String(validate=validate.Length(max=12))
    signature = fields.String(validate=validate.Length(max=64))


# -- waivers and acknowledgements ------------------------------------------------------------


class WaiverRequestSchema(_In):
    """Acknowledge or waive a finding until a time (in the future, at most a year ahead)."""

    kind = fields.String(required=True, validate=validate.OneOf(["acknowledge", "waive"]))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    expires_at = UtcDateTime(required=True)
    user = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "The console user acting through this token, for the record."},
    )


class WaiverRevokeQuerySchema(_In):
    """Why a waiver is revoked (optional)."""

    reason = fields.String(validate=validate.Length(max=2000))
    user = fields.String(validate=validate.Length(min=1, max=100))


class FindingBriefSchema(Schema):
    """What a waived finding is, from its latest scan."""

    type = fields.String()
    severity = fields.String()
    message = fields.String()
    cookie = fields.String(allow_none=True)
    scan = fields.Integer(attribute="scan_id")


class WaiverSchema(Schema):
    """One row of a site's waiver history."""

    id = fields.Integer()
    fingerprint = fields.String()
    kind = fields.String(
        attribute="action", metadata={"description": "acknowledge, waive or revoke"}
    )
    reason = fields.String()
    expires_at = StoredDateTime(allow_none=True)
    revokes = fields.Integer(attribute="revokes_id", allow_none=True)
    revoked_by = fields.Integer(allow_none=True)
    state = fields.String(metadata={"description": "active, expired, revoked or revocation"})
    by = fields.String(attribute="actor")
    token = fields.Integer(attribute="token_id", allow_none=True)
    created_at = StoredDateTime()


class WaiverListItemSchema(WaiverSchema):
    """A history row with the finding it is about."""

    finding = fields.Nested(FindingBriefSchema, allow_none=True)


class WaiverListSchema(Schema):
    """A site's waivers, acknowledgements and revocations, newest first."""

    site = fields.String()
    waivers = fields.List(fields.Nested(WaiverListItemSchema))
