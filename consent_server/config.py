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
    # The request header in which the proxy or CDN in front names the visitor's country
    # (e.g. "CF-IPCountry"); unset, no header is trusted and a declaration's region rules are
    # off. Set it only when that proxy always sets or overwrites the header (docs/operations.md).
    GEO_COUNTRY_HEADER: str | None = None
    # Seconds a public cookie-policy request may spend building a page that is not stored yet
    # (it is written when a declaration is applied or a scan stored); past it the answer is 503.
    COOKIE_POLICY_BUILD_SECONDS = 2.0
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
    # Seconds a consent POST waits for its receipt's commit before answering 503 (naming the
    # receipt, which may still be stored); also the connect and statement timeout of the
    # connection that commits receipts, so that a stalled database is given up on in time.
    COMMIT_TIMEOUT = 30.0
    # /metrics (docs/operations.md#metrics): served to an operator token, to a bearer secret
    # equal to METRICS_TOKEN (for Prometheus' `authorization` setting), or to anyone when
    # METRICS_PUBLIC is true.
    METRICS_TOKEN: str | None = None
    METRICS_PUBLIC = False
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
    # -- scan network settings: the operator's alone, never a site's declaration --------------
    # Every browser request of a scan goes through the scanner's network guard, which refuses
    # private, loopback, link-local and reserved addresses. SCAN_RESOLVE maps host names (or
    # patterns such as *.test) to addresses for every site; SCAN_INSECURE accepts invalid TLS
    # certificates; SCAN_ALLOW_PRIVATE lets every scan reach internal addresses.
    # SCAN_SITE_NETWORK sets the same per site key, merged over the global values:
    #   {"shop": {"resolve": {"shop.test": "10.0.0.5"}, "insecure": true,
    #             "allow_private": ["shop.test"]}}
    # where allow_private is true (any host) or a list of host patterns ("host:port" for one
    # port) that may be on internal addresses; a resolve entry to an internal address needs it.
    SCAN_RESOLVE: dict[str, str] = {}
    SCAN_INSECURE = False
    SCAN_ALLOW_PRIVATE = False
    SCAN_SITE_NETWORK: dict[str, dict[str, Any]] = {}
    # The address the guard listens on and the browser uses; a remote Selenium Grid needs an
    # address of this machine that the Grid's browsers can reach.
    SCAN_PROXY_HOST = "127.0.0.1"
    # Chromium's sandbox: None = on unless the scanner runs as root; False = always off (for
    # platforms without the user namespaces it needs).
    SCAN_CHROMIUM_SANDBOX: bool | None = None
    # A running scan renews its lease every quarter of this; a scan whose lease ran out was
    # lost with its process and is run again, at most SCAN_MAX_ATTEMPTS times in all.
    SCAN_LEASE_SECONDS = 120
    SCAN_MAX_ATTEMPTS = 3
    SCAN_RETENTION_DAYS = 365
    # Scans one site may start over the API in a sliding window ("N per day|hour|minute",
    # counted from the scans table, so every process agrees); empty: no quota.
    SCAN_API_QUOTA: str | None = "10 per day"
    SCHEDULER_INTERVAL = 30.0
    SEAL_INTERVAL = 300.0
    # Alerts: links in alerts point here (e.g. https://consent.example.se).
    PUBLIC_URL: str | None = None
    WEBHOOK_SECRET: str | None = None
    WEBHOOK_TIMEOUT = 10.0
    WEBHOOK_ATTEMPTS = 4
    WEBHOOK_BACKOFF = 2.0
    WEBHOOK_ALLOW_PRIVATE = False
    # A PEM file of the CAs webhook HTTPS certificates are checked against (else the system's).
    WEBHOOK_CA_FILE: str | None = None
    SMTP_HOST: str | None = None
    SMTP_PORT = 25
    SMTP_FROM: str | None = None
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS = False
    SMTP_TIMEOUT = 20.0
    REPORT_LINK_DAYS = 30

    # -- the privacy officer's console under /admin/ (docs/console.md) ------------------------
    # Signs the console's session cookie; when unset, a random key is made once in KEYS_DIR.
    SECRET_KEY: str | None = None
    # Off only for plain-HTTP development: the session cookie is then sent without TLS.
    CONSOLE_SECURE_COOKIE = True
    # A session ends after this long without a request, and this long after sign-in at most.
    CONSOLE_IDLE_MINUTES = 30.0
    CONSOLE_MAX_HOURS = 12.0
    # OpenID Connect sign-in, on when the issuer is set (its /.well-known/openid-configuration).
    CONSOLE_OIDC_ISSUER: str | None = None
    CONSOLE_OIDC_CLIENT_ID: str | None = None
    CONSOLE_OIDC_CLIENT_SECRET: str | None = None
    CONSOLE_OIDC_SCOPE = "openid email profile"
    CONSOLE_OIDC_EMAIL_CLAIM = "email"
    CONSOLE_OIDC_GROUPS_CLAIM = "groups"
    # Who may sign in, with which role and site (None: all sites), by e-mail or by group:
    #   {"dpo@example.se": {"role": "auditor", "site": "demo-shop"}}
    CONSOLE_OIDC_USERS: dict[str, dict[str, Any]] = {}
    CONSOLE_OIDC_GROUPS: dict[str, dict[str, Any]] = {}
