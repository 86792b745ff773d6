"""Request and response schemas of consents, exports, seals and statistics."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from consent_server.consent_log.receipts import METHODS
from consent_server.schemas import StrictBoolean, UtcDateTime, _In
from declaration.constants import LANGUAGE_RE
from declaration.schema import FullMatch

UUID4_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


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
    # The same on every retry of one event: the server then answers with the receipt it
    # stored first instead of storing another.
    client_nonce = fields.String(
        validate=FullMatch(UUID4_RE, error="Must be a lower-case UUID version 4.")
    )


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
