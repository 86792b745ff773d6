"""The demo site: a shop page that embeds the banner and shows every feature."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request, send_from_directory

bp = Blueprint("demo", __name__)


@bp.get("/demo")
def demo() -> str:
    """A page of the demo site with the banner, blocked scripts and an embedded video."""
    site = request.args.get("site") or current_app.config.get("DEMO_SITE", "demo-shop")
    lang = "en" if request.args.get("lang") == "en" else "sv"
    return render_template("demo.html", site=site, lang=lang)


@bp.get("/demo/video")
def video() -> str:
    """Stands in for an embedded video player."""
    return render_template("video.html")


@bp.get("/demo/<path:name>")
def asset(name: str) -> Response:
    """Static files of the demo page."""
    return send_from_directory(current_app.root_path + "/static", name, max_age=60)
