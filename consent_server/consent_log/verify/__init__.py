"""Offline verification of an export or audit bundle (`consent-server log verify`).

report: what was found; blocks: hashing in worker processes; seals: signatures and chain;
judge: matching receipts to leaves; bundle: reading files and bundles.
"""

from __future__ import annotations

from consent_server.consent_log.verify.bundle import verify_path
from consent_server.consent_log.verify.judge import verify_stream
from consent_server.consent_log.verify.report import Problem, VerifyReport

__all__ = ["Problem", "VerifyReport", "verify_path", "verify_stream"]
