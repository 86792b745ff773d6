"""The old name of consent_server.scans.tasks, so `celery -A consent_server.tasks` keeps working."""

from __future__ import annotations

from consent_server.scans.tasks import __getattr__  # noqa: F401 - `app` is looked up through it
