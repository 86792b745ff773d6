"""Serves the built banner: hashed files cached forever, the stable entry briefly."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, send_from_directory

bp = Blueprint("banner", __name__)
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "static" / "banner" / "dist"
HASHED = re.compile(r"^banner\.[0-9a-f]{10}\.(js|css)$")
STABLE = {"banner.js", "banner.css"}
LANGUAGE_FILE = re.compile(r"^[a-z]{2,3}\.[0-9a-f]{10}\.json$")


@bp.get("/banner/<string:name>")
def banner_file(name: str) -> Response:
    """A banner file; content-hashed names are immutable, banner.js revalidates after 5 min."""
    if not (HASHED.match(name) or name in STABLE):
        abort(404)
    folder = current_app.config.get("BANNER_DIR") or DEFAULT_DIR
    response = send_from_directory(folder, name, conditional=True)
    if name in STABLE:
        response.headers["Cache-Control"] = "public, max-age=300"
    else:
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/banner/i18n/<string:name>")
def language_file(name: str) -> Response:
    """A language's built-in texts (i18n/<lang>.<hash>.json): content-hashed, immutable."""
    if not LANGUAGE_FILE.match(name):
        abort(404)
    folder = Path(current_app.config.get("BANNER_DIR") or DEFAULT_DIR) / "i18n"
    response = send_from_directory(folder, name, conditional=True)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    # Fetched by the banner from other sites' pages.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
