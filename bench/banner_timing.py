"""Time to a visible, clickable banner in headless Chromium: ours against vanilla-cookieconsent.

    .venv/bin/python bench/banner_timing.py [--runs 25]

Both pages are served by the same local server in the same run; each load uses a fresh
browser context (cold cache), the two variants alternate, and the medians are compared.
Cumulative layout shift is measured on every load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Blueprint, Response, send_from_directory
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from bench._vanilla import vanilla_dist
from consent_server.app import create_app
from consent_server.extensions import db
from consent_server.sites.service import apply_declaration
from declaration.loader import read_declaration

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CONSENT_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FILLER = "".join(
    f"<p>Paragraph {i}: products, prices and delivery information of the demo shop.</p>"
    for i in range(30)
)
OURS = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ours</title>
<script src="/banner/banner.js" data-site="demo-shop" defer></script></head>
<body><h1>Demo shop</h1>{FILLER}</body></html>"""
VANILLA = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>vanilla</title>
<link rel="stylesheet" href="/vcc/cookieconsent.css">
<script src="/vcc/cookieconsent.umd.js" defer></script>
<script src="/bench/vanilla-init.js" defer></script></head>
<body><h1>Demo shop</h1>{FILLER}</body></html>"""
# The same categories and texts as examples/site.yaml in English, in vanilla's format.
VANILLA_INIT = """CookieConsent.run({
 hideFromBots: false,  // headless Chromium under automation counts as a bot otherwise
 categories: {necessary: {enabled: true, readOnly: true}, preferences: {}, analytics: {}, marketing: {}},
 language: {default: 'en', translations: {en: {
  consentModal: {title: 'We use cookies', description: 'We use cookies to run the shop and, if you agree, for analytics and marketing.',
   acceptAllBtn: 'Accept all', acceptNecessaryBtn: 'Reject all', showPreferencesBtn: 'Settings'},
  preferencesModal: {title: 'Cookie settings', acceptAllBtn: 'Accept all', acceptNecessaryBtn: 'Reject all',
   savePreferencesBtn: 'Save choices', closeIconLabel: 'Close', sections: [
    {title: 'Necessary', description: 'Needed for the shop to work.', linkedCategory: 'necessary'},
    {title: 'Preferences', description: 'Remember language and currency.', linkedCategory: 'preferences'},
    {title: 'Analytics', description: 'Show us how the shop is used.', linkedCategory: 'analytics'},
    {title: 'Marketing', description: 'Relevant ads on other websites.', linkedCategory: 'marketing'}]}}}}
});"""
PROBE = """(() => {
  let cls = 0;
  new PerformanceObserver((list) => { for (const e of list.getEntries()) if (!e.hadRecentInput) cls += e.value; })
    .observe({type: 'layout-shift', buffered: true});
  window.__cls = () => cls;
  function opacity(node) {
    let o = 1;
    for (let n = node; n && n.nodeType === 1; n = n.parentElement) o *= parseFloat(getComputedStyle(n).opacity);
    return o;
  }
  function check() {
    const b = document.querySelector('#cm-banner [data-cm-action="accept-all"], #cc-main .cm [data-role="all"]');
    if (b) {
      const r = b.getBoundingClientRect();
      const hit = r.width > 0 && document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
      if (hit && b.contains(hit) && getComputedStyle(b).visibility === 'visible' && opacity(b) > 0) {
        window.__visibleAt = performance.now();
        return;
      }
    }
    requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
})();"""


def serve(tmp: str) -> tuple[str, object]:
    """Start the consent server with the bench pages on a loopback port."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite3",
            "KEYS_DIR": f"{tmp}/keys",
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        db.create_all()
        apply_declaration(read_declaration(ROOT / "examples" / "site.yaml"))
    dist = vanilla_dist()
    bp = Blueprint("bench", __name__)

    @bp.get("/bench/ours")
    def ours() -> Response:
        return Response(OURS, mimetype="text/html")

    @bp.get("/bench/vanilla")
    def vanilla() -> Response:
        return Response(VANILLA, mimetype="text/html")

    @bp.get("/bench/vanilla-init.js")
    def vanilla_init() -> Response:
        return Response(VANILLA_INIT, mimetype="text/javascript")

    @bp.get("/vcc/<path:name>")
    def vcc(name: str) -> Response:
        return send_from_directory(dist, name, max_age=300)

    app.register_blueprint(bp)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.RequestHandlerClass.log_request = lambda *a, **k: None  # quiet access log
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def measure(browser: object, url: str) -> tuple[float, float]:
    """Milliseconds from navigation start to a visible, clickable accept button; and CLS."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    try:
        context.add_init_script(PROBE)
        page = context.new_page()
        page.goto(url)
        page.wait_for_function("window.__visibleAt !== undefined", timeout=15000)
        visible = page.evaluate("window.__visibleAt")
        # Let entry animations finish so any late layout shift is counted too.
        page.wait_for_timeout(400)
        return visible, page.evaluate("window.__cls()")
    finally:
        context.close()


def main() -> int:
    """Run both variants alternately and print medians, the ratio and CLS."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=25)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"ours": [], "vanilla": []}
    with tempfile.TemporaryDirectory() as tmp:
        base, server = serve(tmp)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for name in ("ours", "vanilla"):  # warm-up, not counted
                measure(browser, f"{base}/bench/{name}")
            for i in range(args.runs):
                order = ("ours", "vanilla") if i % 2 == 0 else ("vanilla", "ours")
                for name in order:
                    results[name].append(measure(browser, f"{base}/bench/{name}"))
            browser.close()
        server.shutdown()
    med = {k: statistics.median(t for t, _ in v) for k, v in results.items()}
    cls = {k: max(c for _, c in v) for k, v in results.items()}
    for name in ("ours", "vanilla"):
        times = sorted(t for t, _ in results[name])
        print(
            f"{name:<8} median {med[name]:7.1f} ms  min {times[0]:7.1f}  max {times[-1]:7.1f}  "
            f"worst CLS {cls[name]:.4f}  ({len(times)} runs)"
        )
    ratio = med["ours"] / med["vanilla"]
    ok = ratio <= 1.0 and cls["ours"] == 0
    print(
        f"ratio ours/vanilla {ratio:.3f} (target <= 1.0), CLS {cls['ours']} (target 0): "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
