"""The cookie-scan command: scan a site, compare it with its declaration, report, exit 0/1/2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from declaration.constants import PHASES, SEVERITIES
from scanner import __version__
from scanner.config import ScanConfig, ScanError

EPILOG = """exit status: 0 no finding at or above --fail-on, 1 findings, 2 usage or scan error.
other commands: cookie-scan check-declaration FILE
                cookie-scan policy URL|FILE [--json [FILE]]   (what a privacy policy declares)"""

STDOUT = "-"


def add_json_option(parser: Any, what: str) -> None:
    """`--json [FILE]`, as in consent-server: JSON to FILE, or to stdout without FILE or with '-'."""
    parser.add_argument(
        "--json",
        nargs="?",
        const=STDOUT,
        metavar="FILE",
        help=f"write {what} as JSON to FILE, or to stdout (and nothing else there) "
        "without FILE or with '-'",
    )


def _argument_or_json(parser: argparse.ArgumentParser, args: argparse.Namespace, name: str) -> None:
    """The required argument `name`, which argparse holds optional so that a value `--json`
    took is the argument when it is missing: `--json URL` is `URL --json`."""
    if getattr(args, name) is not None:
        return
    if args.json not in (None, STDOUT):
        setattr(args, name, args.json)
        args.json = STDOUT
        return
    parser.error(f"the following arguments are required: {name}")


def _usage_requires(parser: argparse.ArgumentParser, name: str) -> None:
    """Show the argument `name` in the usage as the required argument it is."""
    usage = parser.format_usage().removeprefix("usage: ").rstrip("\n")
    parser.usage = usage.replace(f" [{name}]", f" {name}")


def write_json(data: Any, target: str) -> None:
    """Write `data` as indented JSON (UTF-8, one final newline) to a file, or to stdout for '-'."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    if target == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(target).write_text(text, encoding="utf-8")


def _resolve_arg(values: list[str]) -> dict[str, str]:
    mapping = {}
    for value in values:
        host, sep, ip = value.partition("=")
        if not sep or not host or not ip:
            raise ScanError(f"--resolve expects HOST=IP, got {value!r}")
        mapping[host.strip().lower()] = ip.strip()
    return mapping


def scan_parser() -> argparse.ArgumentParser:
    """Options of a scan."""
    p = argparse.ArgumentParser(
        prog="cookie-scan",
        description="Find every cookie a site sets before consent, after a reject and after an "
        "accept, and where it breaks its declaration.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("url", nargs="?", help="start URL (http or https)")
    p.add_argument("--version", action="version", version=f"cookie-scan, version {__version__}")
    g = p.add_argument_group("browser")
    g.add_argument("--engine", choices=["playwright", "selenium"], default="playwright")
    g.add_argument("--chromium", help="Chromium binary (default: system chromium)")
    g.add_argument("--chromedriver", help="ChromeDriver binary for --engine selenium")
    g.add_argument("--remote", metavar="URL", help="Selenium Grid URL (with --engine selenium)")
    g.add_argument("--locale", default="sv-SE", help="browser language (default sv-SE)")
    c = p.add_argument_group("crawl")
    c.add_argument("--max-pages", type=int, default=20)
    c.add_argument("--depth", type=int, default=3)
    c.add_argument("--concurrency", type=int, default=3, help="phases working at once")
    c.add_argument("--page-timeout", type=float, default=30.0, help="seconds per page")
    c.add_argument("--timeout", type=float, default=600.0, help="seconds for the whole scan")
    c.add_argument(
        "--wait",
        type=int,
        default=1500,
        help="the longest a page is watched, in ms, for work it has scheduled (timers, ...)",
    )
    c.add_argument("--no-sitemap", action="store_true", help="do not read sitemap.xml")
    c.add_argument(
        "--phases", default=",".join(PHASES), help=f"comma-separated, from {', '.join(PHASES)}"
    )
    c.add_argument("--accept-selector", help="CSS selector of the banner's accept button")
    c.add_argument("--reject-selector", help="CSS selector of the banner's reject button")
    n = p.add_argument_group("network")
    n.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST=IP",
        help="map a host (wildcards allowed: *.example.se) to an address",
    )
    n.add_argument("--insecure", action="store_true", help="accept self-signed TLS certificates")
    n.add_argument(
        "--allow-private",
        action="store_true",
        help="allow private, loopback and link-local targets",
    )
    k = p.add_argument_group("checks and output")
    k.add_argument("--declaration", metavar="FILE", help="the site's site.yaml")
    k.add_argument(
        "--policy",
        metavar="URL|FILE",
        help="the site's privacy policy (Swedish or English; a URL is loaded in the browser)",
    )
    k.add_argument("--knowledge", metavar="FILE", help="Open Cookie Database CSV to add")
    add_json_option(k, "the report")
    k.add_argument("--html", metavar="FILE", help="write the HTML report")
    k.add_argument(
        "--lang",
        choices=["sv", "en"],
        default="en",
        help="language of the HTML report's headings and texts (default en)",
    )
    k.add_argument(
        "--no-screenshots",
        action="store_true",
        help="no screenshot of the start page per phase in the reports",
    )
    k.add_argument("--fail-on", choices=SEVERITIES, default="high")
    k.add_argument("--quiet", action="store_true", help="no progress display")
    _usage_requires(p, "url")
    return p


def _progress(quiet: bool) -> Any:
    if quiet:
        return None
    if sys.stderr.isatty():
        from rich.console import Console

        console = Console(stderr=True)

        def show(kind: str, **info: Any) -> None:
            if kind == "page":
                console.print(f"[dim]{info['phase']:<13}[/] page {info['done'] + 1}: {info['url']}")
            elif kind == "banner":
                b = info["banner"]
                state = f"clicked {b.clicked}" if b.clicked else (b.error or "no banner found")
                console.print(f"[dim]{info['phase']:<13}[/] banner: {state}")

        return show

    def plain(kind: str, **info: Any) -> None:
        if kind == "page":
            print(f"{info['phase']}: page {info['done'] + 1}: {info['url']}", file=sys.stderr)

    return plain


def print_summary(report: dict[str, Any], out: Any = None) -> None:
    """The counts, each phase, the policy and the findings, on stdout (or `out`)."""

    def say(line: str) -> None:
        print(line, file=out or sys.stdout)

    s = report["summary"]
    say(
        f"{report['url']}: {s['pages']} page loads, {s['cookies']} cookies, "
        f"{s['storage_items']} storage keys, {s['refused']} refused by the browser"
    )
    for phase in report["phases"]:
        banner = phase["banner"]
        b = (
            "no banner"
            if not banner["found"]
            else (
                f"banner ({banner['kind']}), reject on first layer: {banner['reject_on_first_layer']}"
            )
        )
        say(
            f"  {phase['phase']:<13} {phase['cookies_set']:>3} set  {b}"
            + (f"  ERROR: {phase['error']}" if phase["error"] else "")
        )
    policy = report.get("policy")
    if policy:
        p = policy["summary"]
        say(
            f"  policy ({policy['language']}): cookies "
            f"{'mentioned' if p['mentions_cookies'] else 'not mentioned'}; purposes: "
            f"{', '.join(p['purposes']) or 'none'}; lifetimes: {', '.join(p['lifetimes']) or 'none'}"
        )
    if not report["findings"]:
        say("No findings.")
    for f in report["findings"]:
        say(f"  [{f['severity']:<8}] {f['type']:<30} {f['message']}")


def run_scan(argv: list[str]) -> int:
    """Parse options, scan, write reports, return the exit status."""
    parser = scan_parser()
    args = parser.parse_args(argv)
    _argument_or_json(parser, args, "url")
    from scanner.api import exit_status, scan

    try:
        config = ScanConfig(
            url=args.url,
            engine=args.engine,
            remote=args.remote,
            max_pages=args.max_pages,
            depth=args.depth,
            concurrency=args.concurrency,
            page_timeout=args.page_timeout,
            total_timeout=args.timeout,
            settle_ms=args.wait,
            phases=tuple(p.strip() for p in args.phases.split(",") if p.strip()),
            accept_selector=args.accept_selector,
            reject_selector=args.reject_selector,
            resolve=_resolve_arg(args.resolve),
            insecure=args.insecure,
            allow_private=args.allow_private,
            use_sitemap=not args.no_sitemap,
            screenshots=not args.no_screenshots,
            locale=args.locale,
            fail_on=args.fail_on,
        )
        if args.chromium:
            config.chromium = args.chromium
        if args.chromedriver:
            config.chromedriver = args.chromedriver
        declaration = None
        if args.declaration:
            from declaration.loader import read_declaration

            declaration = read_declaration(args.declaration)
        knowledge = None
        if args.knowledge:
            from scanner.knowledge import KnowledgeBase

            knowledge = KnowledgeBase.load_default().merge(
                KnowledgeBase.from_open_cookie_database(args.knowledge)
            )
        report = scan(
            config,
            declaration=declaration,
            knowledge=knowledge,
            progress=_progress(args.quiet),
            policy=args.policy,
        )
    except (ScanError, OSError, ValueError) as exc:  # DeclarationError is a ValueError
        print(f"cookie-scan: {exc}", file=sys.stderr)
        return 2
    try:
        if args.json:
            write_json(report, args.json)
        if args.html:
            from scanner.report.html import render_html

            Path(args.html).write_text(render_html(report, lang=args.lang), encoding="utf-8")
    except OSError as exc:
        print(f"cookie-scan: cannot write the report: {exc}", file=sys.stderr)
        return 2
    # With the JSON on stdout, the summary goes to stderr.
    print_summary(report, sys.stderr if args.json == STDOUT else sys.stdout)
    return exit_status(report, args.fail_on)


def check_declaration(argv: list[str]) -> int:
    """Validate a site.yaml and print its summary."""
    from declaration.loader import DeclarationError, read_declaration

    parser = argparse.ArgumentParser(prog="cookie-scan check-declaration")
    parser.add_argument("file")
    args = parser.parse_args(argv)
    try:
        decl = read_declaration(args.file)
    except DeclarationError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(
        f"{decl.site}: {len(decl.category_keys())} categories, "
        f"{len(decl.data['cookies'])} cookies, revision hash {decl.content_hash()[:12]}"
    )
    return 0


def policy_parser() -> argparse.ArgumentParser:
    """Options of `cookie-scan policy`."""
    p = argparse.ArgumentParser(
        prog="cookie-scan policy",
        description="What a privacy policy (Swedish or English) states about cookies: lifetimes, "
        "purposes, third parties, transfers, consent and withdrawal, and its problems; every "
        "conclusion with the sentences it rests on.",
        epilog="exit status: 0 analysed, 2 unreadable input or usage error.",
    )
    p.add_argument("source", nargs="?", help="an http(s) URL, or an .html/.htm/.txt file")
    add_json_option(p, "the statement")
    # --lang as in `consent-server sites policy`; --language is its former spelling.
    p.add_argument("--lang", dest="language", choices=["sv", "en"], help="skip language detection")
    p.add_argument("--language", dest="language", choices=["sv", "en"], help=argparse.SUPPRESS)
    b = p.add_argument_group("URLs")
    b.add_argument(
        "--browser",
        action="store_true",
        help="load the URL in Chromium, so pages built by scripts are read (default: plain GET)",
    )
    b.add_argument("--chromium", help="Chromium binary (with --browser)")
    b.add_argument(
        "--insecure", action="store_true", help="accept self-signed TLS (with --browser)"
    )
    b.add_argument(
        "--allow-private", action="store_true", help="allow private targets (with --browser)"
    )
    _usage_requires(p, "source")
    return p


def policy_command(argv: list[str]) -> int:
    """Analyse one privacy policy and print its statement."""
    parser = policy_parser()
    args = parser.parse_args(argv)
    _argument_or_json(parser, args, "source")
    from scanner.policy import PolicyError, browser_fetcher, load_policy, render_text
    from scanner.policy.source import is_url

    try:
        fetch = None
        if args.browser and is_url(args.source):
            config = ScanConfig(
                url=args.source, insecure=args.insecure, allow_private=args.allow_private
            )
            if args.chromium:
                config.chromium = args.chromium
            config.validate()
            fetch = browser_fetcher(config)
        statement = load_policy(args.source, fetch=fetch, language=args.language)
    except (PolicyError, ScanError, ValueError) as exc:
        print(f"cookie-scan policy: {exc}", file=sys.stderr)
        return 2
    if args.json:
        try:
            write_json(statement.to_dict(), args.json)
        except OSError as exc:
            print(f"cookie-scan policy: cannot write the statement: {exc}", file=sys.stderr)
            return 2
    if args.json != STDOUT:
        print(render_text(statement))
    if is_url(args.source) and not args.browser and len(statement.text) < 500:
        print(
            "note: little text was found; if the page is built by scripts, add --browser",
            file=sys.stderr,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of cookie-scan and python -m scanner."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "check-declaration":
        return check_declaration(argv[1:])
    if argv and argv[0] == "policy":
        try:
            return policy_command(argv[1:])
        except SystemExit as exc:  # argparse: usage errors are status 2, help is 0
            return int(exc.code or 0)
    try:
        return run_scan(argv)
    except SystemExit as exc:  # argparse: usage errors are status 2, help is 0
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print("cookie-scan: interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
