"""The demo page: a shop page that embeds the banner and shows the API at work."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

bp = Blueprint("demo", __name__)


@bp.get("/demo")
def demo() -> str:
    """A page of the demo site with the banner embedded."""
    site = request.args.get("site") or current_app.config.get("DEMO_SITE", "demo-shop")
    return render_template("demo.html", site=site)


@bp.get("/demo/<path:name>")
def asset(name: str):
    """Static files of the demo page."""
    from flask import send_from_directory

    return send_from_directory(current_app.root_path + "/static", name, max_age=60)
