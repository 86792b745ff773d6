"""Turning what a browser reports into CookieEvents: Set-Cookie parsing, refusal rules, the probe."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from declaration.constants import STORAGE_KINDS
from scanner.model import CookieEvent, StoredCookie

# Chromium stores at most 400 days; the requested lifetime is kept separately.
MAX_STORED_SECONDS = 400 * 86400

# Runs in every frame before any page script: records document.cookie and CookieStore writes,
# and the first Storage.setItem of each key, with the URL of the script that made them.
# Engines collect the records through a binding (Playwright), or from the browser's console
# log with window.__cmScanLog as a fallback (Selenium: the console log keeps the records of
# frames that are gone by the time the engine looks, such as a cookie-sync iframe that
# removes itself).
CONSOLE_PREFIX = "__cmScan:"
PROBE_JS = r"""
(() => {
  if (window.__cmScanLog) return;
  const VIA_CONSOLE = false;
  const log = [];
  const debug = console.debug.bind(console);  // before a page script can replace it
  const stringify = JSON.stringify;
  Object.defineProperty(window, '__cmScanLog', {value: log, enumerable: false});
  const send = (kind, value) => {
    let stack = '';
    try { stack = new Error().stack || ''; } catch (e) {}
    const rec = {kind, value: String(value), stack, frame: location.href, t: Date.now()};
    log.push(rec);
    try { if (window.__cmScanReport) window.__cmScanReport(rec); } catch (e) {}
    if (VIA_CONSOLE) { try { debug('__cmScan:' + stringify(rec)); } catch (e) {} }
  };
  const desc = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
  if (desc && desc.set) {
    Object.defineProperty(Document.prototype, 'cookie', {
      configurable: true,
      enumerable: desc.enumerable,
      get() { return desc.get.call(this); },
      set(v) { try { send('script', v); } catch (e) {} return desc.set.call(this, v); },
    });
  }
  if (window.CookieStore && CookieStore.prototype.set) {
    const set = CookieStore.prototype.set;
    CookieStore.prototype.set = function (a, b) {
      try { send('cookiestore', stringify(typeof a === 'object' ? a : {name: a, value: b})); } catch (e) {}
      return set.apply(this, arguments);
    };
  }
  // The first write of each localStorage / sessionStorage key, and the first open of each
  // IndexedDB database, in this frame, with its stack: which script stored it. Only the first
  // (as for a cookie's first_seen), and at most MAX_KEYS, so that a page writing on every
  // scroll cannot grow the log.
  const MAX_KEYS = 1000;
  const written = new Set();
  const first = (kind, name) => {
    const key = String(name).slice(0, 1024);
    if (written.size < MAX_KEYS && !written.has(kind + '|' + key)) {
      written.add(kind + '|' + key);
      send('storage', stringify({kind, key, origin: location.origin}));
    }
  };
  // Proxies, like the timers below: they still read as native code to a page's checks.
  if (window.Storage && typeof Storage.prototype.setItem === 'function') {
    Storage.prototype.setItem = new Proxy(Storage.prototype.setItem, {apply(target, self, args) {
      try { first(self === window.sessionStorage ? 'session' : 'local', args[0]); } catch (e) {}
      return Reflect.apply(target, self, args);
    }});
  }
  if (window.IDBFactory && typeof IDBFactory.prototype.open === 'function') {
    IDBFactory.prototype.open = new Proxy(IDBFactory.prototype.open, {apply(target, self, args) {
      try { first('indexeddb', args[0]); } catch (e) {}
      return Reflect.apply(target, self, args);
    }});
  }
  // Work the page has scheduled and not yet run (timers, frame and idle callbacks), so that the
  // engine's settle can end as soon as nothing is left instead of always waiting --wait.
  // A function callback stays pending until it has actually run; a string one until due.
  // The functions are wrapped in proxies, which still read as native code to a page's checks.
  const now = performance.now.bind(performance);  // before a page script can replace it
  const timers = new Map();  // id -> [due, callback is a string]
  const frames = new Set();
  const idle = new Set();
  let lastRun = now();
  const wrap = (name, apply) => {
    if (typeof window[name] === 'function') window[name] = new Proxy(window[name], {apply});
  };
  // Runs the page's callback and notes that it ran; `done` forgets the pending entry first.
  const ran = (fn, done) => function () { done(); lastRun = now(); return fn.apply(this, arguments); };
  const schedule = (repeat) => (target, self, args) => {
    const fn = args[0];
    const ms = Math.max(0, Number(args[1]) || 0);
    const code = typeof fn !== 'function';
    let id;
    if (!code) {
      // An interval is due again one period after each run (noted before fn, which may clear it).
      args[0] = ran(fn, () => (repeat ? timers.set(id, [now() + ms, false]) : timers.delete(id)));
    }
    id = Reflect.apply(target, self, args);
    timers.set(id, [now() + ms, code]);
    return id;
  };
  wrap('setTimeout', schedule(false));
  wrap('setInterval', schedule(true));
  // Timeout and interval ids share one pool: either function clears either kind.
  const clear = (target, self, args) => { timers.delete(args[0]); return Reflect.apply(target, self, args); };
  wrap('clearTimeout', clear);
  wrap('clearInterval', clear);
  // Frame callbacks too: a script animating something frame by frame may write a cookie when
  // it is done; a page that never stops asking for frames gets the whole --wait.
  const callback = (pending) => (target, self, args) => {
    const fn = args[0];
    if (typeof fn !== 'function') return Reflect.apply(target, self, args);  // throws as it would
    let id;
    args[0] = ran(fn, () => pending.delete(id));
    id = Reflect.apply(target, self, args);
    pending.add(id);
    return id;
  };
  const cancel = (pending) => (target, self, args) => { pending.delete(args[0]); return Reflect.apply(target, self, args); };
  wrap('requestAnimationFrame', callback(frames));
  wrap('cancelAnimationFrame', cancel(frames));
  wrap('requestIdleCallback', callback(idle));
  wrap('cancelIdleCallback', cancel(idle));
  // [things due within `horizon` ms (timers, frame and idle callbacks, finite CSS animations
  //  and transitions, whose end events may run scripts), ms since a callback last ran]
  Object.defineProperty(window, '__cmScanBusy', {enumerable: false, value: (horizon) => {
    const t = now();
    let n = idle.size + frames.size;
    for (const [id, [due, code]] of timers) {
      if (code && due < t) timers.delete(id);
      else if (due - t <= horizon) n++;
    }
    try {
      for (const a of document.getAnimations()) {
        const timing = a.playState === 'running' && a.effect && a.effect.getComputedTiming();
        if (!timing || !isFinite(timing.endTime)) continue;
        if ((timing.endTime - (timing.localTime || 0)) / Math.abs(a.playbackRate || 1) <= horizon) n++;
      }
    } catch (e) {}
    return [n, t - lastRun];
  }});
})();
"""
# The answer of the probe's __cmScanBusy in one frame (null where the probe is missing).
BUSY_JS = "(horizon) => window.__cmScanBusy ? window.__cmScanBusy(horizon) : null"
PROBE_CONSOLE_JS = PROBE_JS.replace("const VIA_CONSOLE = false;", "const VIA_CONSOLE = true;")


@functools.cache
def public_suffix_list() -> PublicSuffixList:
    """The list bundled with the package (no network), loaded once, when first needed."""
    return PublicSuffixList()


def probe_record_from_console(message: str) -> dict[str, Any] | None:
    """The probe record in a console message of the browser log, or None.

    ChromeDriver writes a console call as `<source> <line>:<column> <arguments as JSON>`; the
    probe's one argument is the JSON text of the record after CONSOLE_PREFIX.
    """
    at = message.find(' "' + CONSOLE_PREFIX)
    if at < 0:
        return None
    try:
        text = json.loads(message[at + 1 :])
        record = json.loads(text[len(CONSOLE_PREFIX) :])
    except (ValueError, TypeError):
        return None
    return record if isinstance(record, dict) else None


STACK_URL = re.compile(r"(https?://[^\s)]+?):\d+:\d+")


def setter_from_stack(stack: str, frame_url: str) -> str:
    """The URL of the script that called the cookie setter (the first web frame on the stack)."""
    for line in stack.splitlines()[1:]:
        match = STACK_URL.search(line)
        if match:
            return match.group(1)
    return frame_url


def host_of(url: str) -> str:
    """Lower-case host of a URL ('' when it has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def is_ip(host: str) -> bool:
    """True for IPv4 and IPv6 literals."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _parse_expires(value: str) -> dt.datetime | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        for fmt in (
            "%a, %d-%b-%Y %H:%M:%S %Z",
            "%a, %d-%b-%y %H:%M:%S %Z",
            "%A, %d-%b-%y %H:%M:%S %Z",
        ):
            try:
                moment = dt.datetime.strptime(value.strip(), fmt)
                break
            except ValueError:
                continue
        else:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_cookie_string(
    line: str, request_url: str, *, now: dt.datetime | None = None
) -> CookieEvent | None:
    """Parse a Set-Cookie line (or a document.cookie assignment) into a CookieEvent."""
    now = now or dt.datetime.now(dt.UTC)
    parts = [p.strip() for p in line.split(";")]
    if not parts or "=" not in parts[0]:
        if not parts or not parts[0]:
            return None
        name, value = "", parts[0]  # a nameless cookie, as browsers accept it
    else:
        name, _, value = parts[0].partition("=")
    name, value = name.strip(), value.strip()
    host = host_of(request_url)
    event = CookieEvent(
        name=name,
        value=value,
        domain=host,
        path="/",
        source="header",
        page_url="",
        frame_url="",
        request_url=request_url,
        raw=line,
    )
    max_age: float | None = None
    expires: dt.datetime | None = None
    default_path = urlsplit(request_url).path.rsplit("/", 1)[0] or "/"
    event.path = default_path
    for attr in parts[1:]:
        key, _, val = attr.partition("=")
        key = key.strip().lower()
        val = val.strip()
        if key == "max-age":
            try:
                max_age = float(int(val))
            except ValueError:
                continue
        elif key == "expires":
            expires = _parse_expires(val)
        elif key == "domain" and val:
            event.domain = val.lstrip(".").lower()
            event.host_only = False
        elif key == "path" and val.startswith("/"):
            event.path = val
        elif key == "secure":
            event.secure = True
        elif key == "httponly":
            event.http_only = True
        elif key == "samesite":
            event.same_site = val.capitalize() or None
    if max_age is not None:
        event.requested_seconds = max_age
    elif expires is not None:
        event.requested_seconds = (expires - now).total_seconds()
    if event.requested_seconds is not None and event.requested_seconds <= 0:
        event.deletion = True
    return event


def schemeful_site(url: str) -> tuple[str, str]:
    """(scheme, registrable domain) of a URL: what Chromium compares for SameSite."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    host = host_of(url).strip("[]")
    if not host or is_ip(host):
        return scheme, host
    return scheme, public_suffix_list().privatesuffix(host) or host


def refusal_reasons(
    event: CookieEvent,
    request_url: str,
    top_url: str,
    *,
    top_level_navigation: bool = False,
    frame_url: str | None = None,
) -> list[str]:
    """Why a browser refuses this cookie, by the rules of RFC 6265bis as Chromium applies them.

    `request_url` is the response (or the document whose script wrote the cookie), `top_url`
    the page in the browser's address bar, `frame_url` the document that made the request
    (a cross-site frame makes its requests cross-site even back to the top site);
    `top_level_navigation` marks the response to a navigation of the page itself (each
    redirect hop included), which may set Lax cookies even from another site.
    """
    reasons = []
    scheme = urlsplit(request_url).scheme
    host = host_of(request_url)
    secure_origin = scheme == "https" or host in ("localhost", "127.0.0.1", "::1")
    if event.secure and not secure_origin:
        reasons.append("Secure cookie set from an insecure origin")
    same_site = (event.same_site or "").lower()
    if same_site == "none" and not event.secure:
        reasons.append("SameSite=None without Secure")
    top_site = schemeful_site(top_url) if top_url else None
    cross_site = top_site is not None and (
        schemeful_site(request_url) != top_site
        or bool(frame_url and schemeful_site(frame_url) != top_site)
    )
    if same_site != "none" and cross_site and not top_level_navigation:
        # Lax (also when SameSite is missing) and Strict cookies can only be set same-site.
        reasons.append(
            f"SameSite={event.same_site or 'Lax (by default)'} cookie set in a cross-site context"
        )
    if not event.host_only:
        domain = event.domain
        if is_ip(host):
            if domain != host:
                reasons.append("Domain attribute on an IP address host")
        elif not (host == domain or host.endswith("." + domain)):
            reasons.append(f"Domain {domain} does not match the host {host}")
        elif public_suffix_list().publicsuffix(domain) == domain and domain != host:
            reasons.append(f"Domain {domain} is a public suffix")
    if event.name.startswith("__Secure-") and not (event.secure and secure_origin):
        reasons.append("__Secure- prefix without Secure from a secure origin")
    if event.name.startswith("__Host-") and not (
        event.secure and secure_origin and event.host_only and event.path == "/"
    ):
        reasons.append("__Host- prefix rules broken (Secure, no Domain, Path=/)")
    if len(event.name) + len(event.value) > 4096:
        reasons.append("name and value longer than 4096 bytes")
    return reasons


def header_cookie_events(
    lines: list[str],
    request_url: str,
    frame_url: str,
    page_url: str,
    at: float,
    *,
    top_level_navigation: bool = False,
) -> list[CookieEvent]:
    """CookieEvents of the Set-Cookie lines of one response, refused ones marked."""
    events = []
    for line in lines:
        event = parse_cookie_string(line, request_url)
        if event is None:
            continue
        event.page_url = page_url
        event.frame_url = frame_url
        event.at = at
        event.refused_reasons = refusal_reasons(
            event,
            request_url,
            page_url,
            top_level_navigation=top_level_navigation,
            frame_url=None if top_level_navigation else frame_url,
        )
        event.refused = bool(event.refused_reasons)
        events.append(event)
    return events


# A page can call the probe's binding (or write the console log) itself, as often and with
# strings as long as it likes: records are cut to these bounds and counted per page load.
# A cookie string stays longer than the 4,096 bytes a browser accepts, so an oversized write
# is still reported as refused.
MAX_RECORDS_PER_PAGE = 10_000
RECORD_LIMITS = {"kind": 32, "value": 8192, "stack": 16384, "frame": 4096}


def bounded_record(record: Any) -> dict[str, Any] | None:
    """A probe record with its text cut to RECORD_LIMITS; None when it is not a record."""
    if not isinstance(record, dict):
        return None
    bounded: dict[str, Any] = {}
    for key, limit in RECORD_LIMITS.items():
        value = record.get(key)
        bounded[key] = value[:limit] if isinstance(value, str) else ""
    t = record.get("t")
    bounded["t"] = t if isinstance(t, int | float) and not isinstance(t, bool) else None
    return bounded


# Storage writes kept per page load (the probe sends at most 1000 per frame; a page can also
# call the probe's binding itself).
MAX_STORAGE_WRITES = 1000


def storage_ident(origin: str, kind: str, key: str) -> str:
    """The identity of a storage key: the same for a snapshot item and a probe record."""
    return f"{origin}|{kind}|{key}"


def storage_write(record: dict[str, Any]) -> tuple[str, str] | None:
    """(storage_ident, setter URL) of a probe record of a Storage.setItem or an IndexedDB open;
    None otherwise."""
    if record.get("kind") != "storage":
        return None
    try:
        data = json.loads(str(record.get("value") or ""))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kind, key, origin = data.get("kind"), data.get("key"), data.get("origin")
    if kind not in STORAGE_KINDS or not isinstance(key, str) or not isinstance(origin, str):
        return None
    frame_url = str(record.get("frame") or "")
    setter = setter_from_stack(str(record.get("stack") or ""), frame_url)
    return storage_ident(origin, kind, key), setter


def script_cookie_event(record: dict[str, Any], page_url: str, at: float) -> CookieEvent | None:
    """A CookieEvent from a probe record (a document.cookie or CookieStore write)."""
    if record.get("kind") not in ("script", "cookiestore"):
        return None
    frame_url = str(record.get("frame") or page_url)
    value = str(record.get("value") or "")
    if record.get("kind") == "cookiestore":
        try:
            opts = json.loads(value)
        except ValueError:
            return None
        if not isinstance(opts, dict):
            return None
        parts = [f"{opts.get('name', '')}={opts.get('value', '')}"]
        if opts.get("domain"):
            parts.append(f"Domain={opts['domain']}")
        parts.append(f"Path={opts.get('path') or '/'}")
        if opts.get("expires") is not None:
            seconds = _cookiestore_seconds(opts["expires"], record.get("t"))
            if seconds is not None:
                parts.append(f"Max-Age={round(seconds)}")
        parts.append(f"SameSite={opts.get('sameSite') or 'Strict'}")  # CookieStore's default
        parts.append("Secure")  # CookieStore only works in secure contexts, always Secure
        value = "; ".join(parts)
    event = parse_cookie_string(value, frame_url)
    if event is None:
        return None
    event.source = "script" if record.get("kind") == "script" else "cookiestore"
    event.page_url = page_url
    event.frame_url = frame_url
    event.setter = setter_from_stack(str(record.get("stack") or ""), frame_url)
    event.at = at
    reasons = refusal_reasons(event, frame_url, page_url)
    if event.http_only:
        reasons.append("HttpOnly cannot be set from a script")
    event.http_only = False
    event.refused = bool(reasons)
    event.refused_reasons = reasons
    return event


def _cookiestore_seconds(expires: Any, written_ms: Any) -> float | None:
    """Seconds from the write (the probe's Date.now()) to a CookieStore `expires`."""
    try:
        start = float(written_ms) if written_ms else time.time() * 1000
        if isinstance(expires, str):  # a Date, which JSON.stringify turns into ISO text
            expires = dt.datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp() * 1000
        return (float(expires) - start) / 1000.0
    except (TypeError, ValueError, OverflowError):
        return None  # garbage: the lifetime is unknown


def cookie_key(name: str, domain: str, path: str) -> str:
    """The identity of a cookie in a jar."""
    return f"{name}\x00{domain.lstrip('.').lower()}\x00{path}"


def stored_from_jar(entry: dict) -> StoredCookie:
    """A jar entry (Playwright/CDP/WebDriver shape) as a StoredCookie."""
    expires = entry.get("expires", entry.get("expiry"))
    if expires is not None and (expires < 0 or entry.get("session")):
        expires = None
    same_site = entry.get("sameSite")
    return StoredCookie(
        name=entry["name"],
        value=entry.get("value", ""),
        domain=str(entry.get("domain", "")).lstrip(".").lower(),
        path=entry.get("path", "/"),
        expires=float(expires) if expires is not None else None,
        secure=bool(entry.get("secure")),
        http_only=bool(entry.get("httpOnly")),
        same_site=same_site if same_site not in ("", None) else None,
    )
