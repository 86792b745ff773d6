"""Request and response schemas of scans."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from consent_server.schemas import _In


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
