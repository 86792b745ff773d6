"""Gunicorn settings for the consent server; each one can be overridden by a GUNICORN_* variable.

    gunicorn -c gunicorn.conf.py

The defaults are the ones docs/benchmarks.md settled on (gthread, one process per core, 16
threads each). GUNICORN_<SETTING> overrides <setting> (GUNICORN_WORKERS=4, GUNICORN_BIND=...);
gunicorn's own GUNICORN_CMD_ARGS and command-line flags still win over this file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path


def _str(name: str, default: str) -> str:
    """The variable's value, or the default when it is unset or empty."""
    return os.environ.get(name) or default


def _int(name: str, default: int) -> int:
    """The variable as an integer; a malformed value stops the start with the variable's name."""
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {value!r}") from None


def _bool(name: str, default: bool) -> bool:
    """The variable as a flag: 1/true/yes/on or 0/false/no/off."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


def _cpu_count() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = count or 1
    # A container limited with --cpus still sees every core of the host; without the cap a
    # big host would start dozens of workers, each with its own PostgreSQL connections.
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, count)


# Loopback by default: the reverse proxy in front terminates TLS (docs/deployment.md). The
# image sets GUNICORN_HOST=0.0.0.0 so the proxy can reach the container. GUNICORN_BIND takes
# a comma-separated list (e.g. "unix:/run/consent/web.sock") and wins over GUNICORN_HOST/PORT.
_HOST_PORT = f"{_str('GUNICORN_HOST', '127.0.0.1')}:{_str('PORT', '8000')}"
bind = [part.strip() for part in _str("GUNICORN_BIND", _HOST_PORT).split(",") if part.strip()]

# The app factory is called once in each worker process.
wsgi_app = _str("GUNICORN_WSGI_APP", "consent_server.app:create_app()")

# Threads, not more processes: concurrent consent posts of one process share a commit (group
# commit, docs/operations.md), and fewer processes mean fewer PostgreSQL backends. 2 x 16 on
# two cores beat 4 x 4, 3 x 12, 1 x 32 and gevent in docs/benchmarks.md.
worker_class = _str("GUNICORN_WORKER_CLASS", "gthread")
workers = _int("GUNICORN_WORKERS", _cpu_count())
threads = _int("GUNICORN_THREADS", 16)

# Each worker builds its own app: the group-commit connection, the database pool and the
# key store must not be shared across fork().
preload_app = _bool("GUNICORN_PRELOAD_APP", False)

# Longer than gunicorn's 2 s so that the proxy's and the banner's follow-up requests reuse the
# connection (the benchmarks ran with 5).
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# A worker whose main loop is stuck this long is restarted; in gthread a slow request does not
# count, and a consent post gives up on its commit after CONSENT_COMMIT_TIMEOUT anyway.
timeout = _int("GUNICORN_TIMEOUT", 30)
# In-flight requests get this long after SIGTERM; keep it below the container's stop grace
# period (compose.yaml gives web 30 s) so they finish before SIGKILL.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 25)

# The heartbeat file is touched constantly; on a container's overlay filesystem that can stall a
# worker, so it lives in memory when /dev/shm exists.
_SHM = "/dev/shm" if Path("/dev/shm").is_dir() else ""  # noqa: S108 (only gunicorn's heartbeat)
worker_tmp_dir = _str("GUNICORN_WORKER_TMP_DIR", _SHM) or None

# Off: the reverse proxy logs requests already, and every consent post's line would add a
# visitor's full IP address to one more log. GUNICORN_ACCESSLOG=- writes it to stdout.
accesslog = _str("GUNICORN_ACCESSLOG", "") or None
errorlog = _str("GUNICORN_ERRORLOG", "-")
loglevel = _str("GUNICORN_LOGLEVEL", "info")

# The app decides which X-Forwarded-* headers to believe (CONSENT_PROXY_COUNT, werkzeug's
# ProxyFix counts proxies rather than trusting addresses), and gunicorn passes them on either
# way. Gunicorn itself only uses them for the scheme; trusting them from any address ("*")
# would let a client that reaches the port directly claim https. So: loopback only, as
# gunicorn's default, unless set.
forwarded_allow_ips = _str("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
