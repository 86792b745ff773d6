"""Scanner speed: a three-phase scan of one page against @slashgear/gdpr-cookie-scanner, and a
20-page crawl with each engine (pages per minute, peak memory).

    .venv/bin/python bench/scan_bench.py [--runs 5]

Both tools scan the same local page in the same run (alternating, median of the runs), each
with its default settings; the other tool is installed from npm into bench/results/npm and
pointed at the system Chromium (it cannot download its own browser here).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
NPM_DIR = ROOT / "bench" / "results" / "npm" / "gdpr-cookie-scanner"
GDPR_VERSION = "3.8.2"
CHROMIUM = os.environ.get("CONSENT_CHROMIUM", "/usr/bin/chromium")
COOKIE_SCAN = str(Path(sys.executable).parent / "cookie-scan")
# Loads the other tool's Playwright with the system Chromium and the flags this machine needs.
PATCH = """import { chromium } from 'playwright';
const launch = chromium.launch.bind(chromium);
chromium.launch = (opts = {}) => launch({...opts, executablePath: process.env.BENCH_CHROMIUM,
  args: [...(opts.args || []), '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run']});
"""

BANNER = """<div id="cookie-banner" style="position:fixed;bottom:0;left:0;right:0;background:#fff;padding:1rem">
<p>We use cookies.</p><button id="acc">Accept all</button> <button id="rej">Reject all</button></div>
<script>
document.getElementById('acc').onclick = function () {
  document.cookie = 'consent=all; Max-Age=31536000; Path=/';
  document.cookie = '_ga=GA1.1.42.1700000000; Max-Age=63072000; Path=/';
  document.getElementById('cookie-banner').remove();
};
document.getElementById('rej').onclick = function () {
  document.cookie = 'consent=none; Max-Age=31536000; Path=/';
  document.getElementById('cookie-banner').remove();
};
</script>"""


def page_html(n: int, pages: int) -> bytes:
    """A shop page with links to every other page, a banner and a tracker image."""
    links = "".join(f'<li><a href="/p{i}">Product {i}</a></li>' for i in range(pages) if i != n)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Page {n}</title>"
        f"</head><body><h1>Page {n}</h1><ul>{links}</ul>"
        f"<img src='/pixel.gif' alt=''>{BANNER}</body></html>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    """The benchmark site: /p0.. /p19, a pixel that sets a cookie, a session cookie per page."""

    pages = 20

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        if self.path == "/pixel.gif":
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.send_header("Set-Cookie", "px=1; Max-Age=7776000; Path=/")
            self.end_headers()
            self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
            return
        path = self.path.split("?")[0]
        n = 0 if path in ("/", "/p0") else int(path[2:]) if path[2:].isdigit() else -1
        if not 0 <= n < self.pages:
            self.send_error(404)
            return
        body = page_html(n, self.pages)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Set-Cookie", "sessionid=abc; Path=/; HttpOnly")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def install_other_tool() -> Path:
    """npm-install the other scanner (without its browser download) and the launch patch."""
    cli = NPM_DIR / "node_modules" / "@slashgear" / "gdpr-cookie-scanner" / "dist" / "cli.js"
    if not cli.exists():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        (NPM_DIR / "package.json").write_text('{"name": "bench-gdpr", "private": true}')
        env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
        subprocess.run(
            [
                "npm",
                "install",
                f"@slashgear/gdpr-cookie-scanner@{GDPR_VERSION}",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
            cwd=NPM_DIR,
            check=True,
            env=env,
        )
    (NPM_DIR / "patch.mjs").write_text(PATCH)
    return cli


def timed(cmd: list[str], cwd: str | None = None, pss: bool = False) -> tuple[float, float, int]:
    """Wall seconds, peak memory of the whole process tree in MB, exit status.

    The memory is the sum of RSS, or with `pss` of PSS (shared pages divided among the
    processes that map them: what the tree really takes; slower to read, so sampled less often).
    """
    env = {**os.environ, "BENCH_CHROMIUM": CHROMIUM}
    t0 = time.monotonic()
    proc = psutil.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        used = 0
        try:
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    used += p.memory_full_info().pss if pss else p.memory_info().rss
                except psutil.Error:
                    continue
        except psutil.Error:
            pass
        peak = max(peak, used)
        time.sleep(0.2 if pss else 0.05)
    elapsed = time.monotonic() - t0
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr.read().decode(errors="replace")[-2000:])
    return elapsed, peak / 1e6, proc.returncode


def main() -> int:
    """Run both comparisons and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cli = install_other_tool()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    ours_cmd = [COOKIE_SCAN, url, "--allow-private", "--max-pages", "1", "--no-sitemap", "--quiet"]
    results: dict[str, list[tuple[float, float]]] = {"cookie-scan": [], "gdpr-scan": []}
    with tempfile.TemporaryDirectory() as tmp:
        other_cmd = [
            "node",
            "--import",
            str(NPM_DIR / "patch.mjs"),
            str(cli),
            "scan",
            url,
            "-f",
            "json",
            "-o",
            tmp,
            "-l",
            "en-US",
        ]
        for i in range(args.runs):
            order = [("cookie-scan", ours_cmd), ("gdpr-scan", other_cmd)]
            for name, cmd in order if i % 2 == 0 else order[::-1]:
                wall, peak, code = timed(cmd)
                if code not in (0, 1):
                    print(f"{name} failed with status {code}")
                    return 2
                results[name].append((wall, peak))
    for name, rows in results.items():
        walls = [w for w, _ in rows]
        print(
            f"{name:<12} one page, three phases: median {statistics.median(walls):6.2f} s "
            f"(min {min(walls):.2f}, max {max(walls):.2f}), peak RSS {max(p for _, p in rows):.0f} MB"
        )
    ratio = statistics.median(w for w, _ in results["cookie-scan"]) / statistics.median(
        w for w, _ in results["gdpr-scan"]
    )
    print(
        f"ratio cookie-scan / gdpr-scan: {ratio:.2f} (target <= 0.5): {'PASS' if ratio <= 0.5 else 'FAIL'}"
    )
    # The crawls: each engine at the default page concurrency (3), Playwright also one page at
    # a time; peak memory as PSS, the figure docs/deployment.md plans workers with.
    for engine, concurrency in (("playwright", 3), ("playwright", 1), ("selenium", 3)):
        cmd = [
            COOKIE_SCAN,
            url,
            "--allow-private",
            "--max-pages",
            "20",
            "--depth",
            "2",
            "--no-sitemap",
            "--quiet",
            "--engine",
            engine,
            "--concurrency",
            str(concurrency),
        ]
        wall, peak, code = timed(cmd, pss=True)
        loads = 20 * 3
        print(
            f"20-page crawl, {engine:<10} --concurrency {concurrency}: {wall:6.1f} s, "
            f"{20 / wall * 60:5.1f} pages/min per phase, "
            f"{loads / wall * 60:5.1f} page loads/min over three phases, peak PSS {peak:.0f} MB "
            f"(status {code})"
        )
    server.shutdown()
    return 0 if ratio <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
