"""The contract's error shape {code, status, message, errors?}, for Flask and the fast path alike."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from werkzeug.exceptions import HTTPException

from consent_server.extensions import rest_api

# Shown when a refusal carries no message of its own (404 routes, 405, 413, webargs errors).
ERROR_MESSAGES = {
    400: "The request is malformed.",
    401: "Authentication is required.",
    403: "Not allowed.",
    404: "No such resource.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
    414: "The URL is too long.",
    415: "Unsupported Content-Type.",
    422: "The request is invalid; see errors.",
    429: "Too many requests; slow down.",
}


def json_error(exc: HTTPException) -> tuple[dict, int, dict]:
    """The contract's error body {code, status, message, errors?} for any HTTP error."""
    payload, code, headers = rest_api.handle_http_exception(exc)
    if "message" not in payload:
        errors = payload.get("errors")
        if (
            code in (400, 422)
            and isinstance(errors, dict)
            and errors.get("json") == ["Invalid JSON body."]
        ):
            payload["message"] = "Malformed JSON body."
        elif code == 422 and isinstance(errors, dict) and errors:
            payload["message"] = validation_message(errors)
        elif code == 429:
            payload["message"] = f"Too many requests: the limit is {exc.description}."
        else:
            payload["message"] = ERROR_MESSAGES.get(code) or exc.description or exc.name
    # Keep Allow (405), Retry-After (429/503) and the like; the body is JSON.
    extra = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    extra.update(headers or {})
    return payload, code, extra


def validation_message(errors: dict[str, Any]) -> str:
    """One line naming the invalid fields of webargs' {location: {field: [messages]}}."""
    parts = []
    for where, fields in errors.items():
        if not isinstance(fields, dict):
            parts.append(f"invalid {where}")
            continue
        names = [str(name) for name in fields if name != "_schema"]
        if "_schema" in fields and not names:
            kind = "JSON body" if where == "json" else where
            parts.append(f"the {kind} must be an object")
        else:
            parts.append(f"invalid {where} field(s): {', '.join(names)}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def error_answer(
    code: int, message: str, errors: dict[str, Any] | None = None, headers: list | None = None
) -> tuple[str, list[tuple[str, str]], bytes]:
    """A WSGI (status, headers, body) with the same JSON body json_error gives in Flask."""
    phrase = HTTPStatus(code).phrase
    payload: dict[str, Any] = {"code": code, "status": phrase, "message": message}
    if errors:
        payload["errors"] = errors
    body = orjson.dumps(payload)
    return (
        f"{code} {phrase.upper()}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
            *(headers or []),
        ],
        body,
    )


def shown(value: str, limit: int = 80) -> str:
    """repr() of a value from the request, cut short so an error never echoes a huge URL."""
    return repr(value if len(value) <= limit else value[:limit] + "...")
