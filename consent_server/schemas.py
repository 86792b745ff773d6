"""Fields and base schemas shared by every area's schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields


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


class JwksSchema(Schema):
    """A JSON Web Key Set."""

    keys = fields.List(fields.Dict())


class HealthSchema(Schema):
    """Liveness and readiness."""

    status = fields.String()
    database = fields.String()
