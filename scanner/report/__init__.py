"""Scan reports: the JSON document (scanner.api.build_report) and a self-contained HTML page."""
