"""Default configuration; overridden by instance/config.py, then CONSENT_* and DATABASE_URL."""

from __future__ import annotations

from typing import Any


class DefaultConfig:
    """Settings for the embedded default: SQLite in the instance folder, in-memory limits."""

    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True}
    # Bodies larger than this are refused with 413 before they are read.
    MAX_CONTENT_LENGTH = 1024 * 1024
    PUBLIC_MAX_BODY = 16 * 1024
    # Seconds a worker may reuse a site's current revision before looking again.
    SITE_CACHE_SECONDS = 5.0
    CONFIG_MAX_AGE = 60
    CONFIG_STALE_WHILE_REVALIDATE = 600
    RATELIMIT_CONSENT = "60 per minute"
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    # Number of proxies in front of the app whose X-Forwarded-For is trusted (0 = none).
    PROXY_COUNT = 0
    KEYS_DIR: str | None = None
    SEAL_MAX_LEAVES = 100_000
    # Record valid consent POSTs in front of Flask (consent_server/fastpath.py).
    CONSENT_FAST_PATH = True
    # Seconds a consent POST waits for its receipt's commit before answering 503.
    COMMIT_TIMEOUT = 30.0
    API_TITLE = "Consent manager"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    JSON_SORT_KEYS = False

    # -- scans (docs/deployment.md) -----------------------------------------------------------
    # Scans run in the scheduler's own process, one at a time, unless a Celery broker is set
    # here or in the CELERY_BROKER_URL environment variable: then on Celery workers.
    CELERY_BROKER_URL: str | None = None
    CELERY_QUEUE = "scans"
    # Merged over the defaults; Redis' visibility_timeout defaults to the hard time limit
    # plus a minute, so a message is only redelivered once its worker cannot be running it.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
    SCAN_ENGINE = "playwright"
    SCAN_SELENIUM_REMOTE: str | None = None
    SCAN_CHROMIUM: str | None = None
    SCAN_SETTLE_MS = 1500
    SCAN_PAGE_TIMEOUT = 30.0
    SCAN_TOTAL_TIMEOUT = 900.0
    SCAN_CONCURRENCY = 3
    # A running scan renews its lease every quarter of this; a scan whose lease ran out was
    # lost with its process and is run again, at most SCAN_MAX_ATTEMPTS times in all.
    SCAN_LEASE_SECONDS = 120
    SCAN_MAX_ATTEMPTS = 3
    SCAN_RETENTION_DAYS = 365
    SCHEDULER_INTERVAL = 30.0
    SEAL_INTERVAL = 300.0
    # Alerts: links in alerts point here (e.g. https://consent.example.se).
    PUBLIC_URL: str | None = None
    WEBHOOK_SECRET: str | None = None
    WEBHOOK_TIMEOUT = 10.0
    WEBHOOK_ATTEMPTS = 4
    WEBHOOK_BACKOFF = 2.0
    WEBHOOK_ALLOW_PRIVATE = False
    SMTP_HOST: str | None = None
    SMTP_PORT = 25
    SMTP_FROM: str | None = None
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS = False
    SMTP_TIMEOUT = 20.0
    REPORT_LINK_DAYS = 30
