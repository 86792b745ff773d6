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
    API_TITLE = "Consent manager"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    JSON_SORT_KEYS = False
