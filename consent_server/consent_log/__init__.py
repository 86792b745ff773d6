"""The consent log: receipts, their writer, seals, export, retention and offline verification.

Kept free of imports so that `consent_server.consent_log.verify` loads without Flask: an
auditor verifies a bundle with `pip install consent-manager[verify]` only.
"""
