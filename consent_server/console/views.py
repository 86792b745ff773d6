"""The console's pages: sign-in and sign-out (token or OIDC), the site list, scan now."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from consent_server.console import i18n, oidc
from consent_server.console.session import (
    ConsoleUser,
    csrf_ok,
    csrf_token,
    current_user,
    end_session,
    start_session,
)
from consent_server.extensions import db
from consent_server.scans.models import Scan
from consent_server.sites.models import ApiToken, Site
from consent_server.sites.service import list_sites
from consent_server.sites.tokens import authenticate

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
)

# Pages open without a session; every other page sends a visitor to the sign-in form.
OPEN = {"console.signin", "console.oidc_login", "console.oidc_callback", "console.static"}
# POST forms an auditor may use: everything else changes something and needs an admin.
READ_ONLY_POSTS = {"console.signin", "console.signout"}


@bp.before_request
def _guard() -> Response | None:
    """CSRF on every POST, then the session (idle, lifetime, revoked token), then the role."""
    if request.method == "POST" and not csrf_ok(request.form.get("csrf_token")):
        abort(400)
    user, expired = current_user()
    g.console_user = user
    if user is None and request.endpoint not in OPEN:
        if expired:
            flash("signin.expired")
        return redirect(url_for("console.signin"))
    if (
        user is not None
        and request.method == "POST"
        and request.endpoint not in READ_ONLY_POSTS
        and user.role != "admin"
    ):
        abort(403)
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    """Keep the chosen language; no caching, framing or foreign scripts for console pages."""
    if request.args.get("lang") in i18n.LANGUAGES:
        response.set_cookie(
            i18n.LANG_COOKIE,
            request.args["lang"],
            max_age=365 * 86400,
            path="/admin",
            samesite="Lax",
            secure=bool(current_app.config["CONSOLE_SECURE_COOKIE"]),
        )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "t": i18n.translate,
        "lang": i18n.language,
        "csrf_token": csrf_token,
        "lang_url": lang_url,
    }


def lang_url(code: str) -> str:
    """This page's query string with `lang` set to `code`: a switch keeps the other fields."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return "?" + urlencode([*kept, ("lang", code)])


@bp.errorhandler(HTTPException)
def _error_page(exc: HTTPException) -> tuple[str, int]:
    """Refusals as a page in the console's language, never the API's JSON."""
    code = exc.code or 500
    key = f"error.{code}" if f"error.{code}" in i18n.TEXTS["en"] else "error.other"
    user = g.get("console_user")
    return render_template("console/error.html", code=code, message_key=key, user=user), code


def signed_in() -> ConsoleUser:
    """The user of this request (the guard has made sure there is one)."""
    user: ConsoleUser | None = g.get("console_user")
    if user is None:
        abort(401)
    return user


def visible_site(key: str, role: str = "auditor") -> Site:
    """The site `key` when the user may see it (else 404) and act on it with `role` (else 403)."""
    user = signed_in()
    site = db.session.execute(select(Site).where(Site.key == key)).scalar_one_or_none()
    if site is None or user.site not in (None, key):
        abort(404)
    if not user.can(role, key):
        abort(403)
    return site


# -- sign-in and sign-out ----------------------------------------------------------------------


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Any:
    """The sign-in form; a valid admin or auditor token is exchanged for a session."""
    if request.method == "GET":
        if g.console_user is not None:
            return redirect(url_for("console.sites"))
        return _signin_page()
    info = authenticate(request.form.get("token", "").strip())
    if info is None:
        return _signin_page(error="signin.refused", status=401)
    token = db.session.get(ApiToken, info.id)
    name = (token.label or token.prefix + "…") if token else ""
    start_session(ConsoleUser(info.role, info.site, name, "token"), token_id=info.id)
    return redirect(url_for("console.sites"))


def _signin_page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    notices = get_flashed_messages()
    html = render_template(
        "console/signin.html", error=error, notices=notices, oidc=oidc.client() is not None
    )
    return html, status


@bp.post("/signout")
def signout() -> Response:
    """End the session."""
    end_session()
    flash("signin.ended")
    return redirect(url_for("console.signin"))


@bp.get("/oidc/login")
def oidc_login() -> Any:
    """Send the browser to the identity provider."""
    remote = oidc.client()
    if remote is None:
        abort(404)
    return remote.authorize_redirect(url_for("console.oidc_callback", _external=True))


@bp.get("/oidc/callback")
def oidc_callback() -> Any:
    """The provider's answer: check state, nonce and ID token, then map the claims."""
    remote = oidc.client()
    if remote is None:
        abort(404)
    pending = any(str(k).startswith(f"_state_{oidc.CLIENT_NAME}_") for k in session)
    if not pending and "again" not in request.args:
        # The provider's redirect is a cross-site navigation: the SameSite=Strict cookie
        # holding the state was not sent. A navigation started by this page is same-site.
        query = urlencode([*request.args.items(multi=True), ("again", "1")])
        target = url_for("console.oidc_callback") + "?" + query
        return render_template("console/bounce.html", target=target)
    if request.args.get("error") or not pending:
        flash("signin.oidc_failed")
        return redirect(url_for("console.signin"))
    from authlib.integrations.base_client.errors import OAuthError

    try:
        token = remote.authorize_access_token()
    except (OAuthError, ValueError) as exc:
        current_app.logger.warning("OIDC sign-in failed: %s", exc)
        flash("signin.oidc_failed")
        return redirect(url_for("console.signin"))
    claims = dict(token.get("userinfo") or {})
    identity = oidc.identity_of(claims)
    user = oidc.map_claims(identity)
    if user is None or not claims:
        end_session()
        return _signin_page(error="signin.oidc_refused", status=403)
    start_session(user, **identity)
    return redirect(url_for("console.sites"))


# -- the site list -----------------------------------------------------------------------------


@bp.get("/")
def sites() -> str:
    """The sites the user may see: name, key, current revision and the last scan's status."""
    user = signed_in()
    rows = []
    for site in list_sites():
        if user.site not in (None, site.key):
            continue
        last = db.session.execute(
            select(Scan).where(Scan.site_id == site.id).order_by(Scan.id.desc()).limit(1)
        ).scalar_one_or_none()
        rows.append(
            {
                "key": site.key,
                "name": site.name,
                "revision": site.current_revision.number if site.current_revision else None,
                "scan": last,
            }
        )
    messages = get_flashed_messages(with_categories=True)
    return render_template("console/sites.html", user=user, rows=rows, messages=messages)


@bp.post("/sites/<string:key>/scan")
def scan_now(key: str) -> Response:
    """Queue a scan of the site, as the API's POST /sites/<site>/scans (same quota)."""
    from consent_server.scans.queue import (
        NoScanSettings,
        ScanBusy,
        ScanQuotaExceeded,
        enqueue_scan,
    )

    site = visible_site(key, "admin")
    try:
        queued = enqueue_scan(site.key, trigger="api")
    except NoScanSettings:
        flash(i18n.translate("scan.no_settings", site=site.name), "error")
    except ScanBusy:
        flash(i18n.translate("scan.busy", site=site.name), "error")
    except ScanQuotaExceeded as exc:
        flash(i18n.translate("scan.quota", site=site.name, seconds=exc.retry_after), "error")
    else:
        flash(i18n.translate("scan.started", id=queued.scan_id, site=site.name), "ok")
    return redirect(url_for("console.sites"))
