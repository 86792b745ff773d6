"""Shared view helpers: token checks, CORS for site domains, JSON errors."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import orjson
from flask import Response, g, request
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from consent_server.errors import shown
from consent_server.sites import tokens
from consent_server.sites.hosts import cors_headers

F = TypeVar("F", bound=Callable[..., Any])


class StrictJsonParser(FlaskParser):
    """webargs' parser reading bodies with orjson: strict JSON, and nothing it cannot take.

    The standard library parser lets through what later fails as a 500: nesting deep enough
    to exhaust the stack, integers too long to convert, lone surrogates ("\\ud800") that no
    UTF-8 encoder accepts, NaN. orjson refuses all of them as malformed JSON (400).
    """

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return core.missing
        data = req.get_data(cache=True)
        if not data:
            return core.missing  # as webargs: the schema names every missing field
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            # Handled here: webargs takes an error whose `doc` is empty (orjson's, for bytes
            # that are not UTF-8) for an empty body.
            return self._handle_invalid_json_error(exc, req)


def require_token(role: str) -> Callable[[F], F]:
    """Allow the view only with a live token of at least `role` for the site in the URL."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, secret = header.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                abort(401, message="An admin token is required: Authorization: Bearer <token>.")
            info = tokens.authenticate(secret.strip())
            if info is None:
                abort(401, message="The token is unknown or revoked.")
            site = kwargs.get("site")
            if site is not None and not info.can(role, site):
                if info.site not in (None, site):
                    abort(403, message=f"This token does not grant access to site {shown(site)}.")
                abort(403, message=f"This action needs the {role} role.")
            if site is None and info.site is not None:
                abort(403, message="This action needs an operator token.")
            g.token = info
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def apply_cors(response: Response, domains: frozenset[str], methods: str) -> Response:
    """Allow the calling origin when its host is one of the site's domains (any port)."""
    response.vary.add("Origin")
    for name, value in cors_headers(request.headers.get("Origin"), domains, methods):
        response.headers[name] = value
    return response
