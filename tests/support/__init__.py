"""Helpers shared by the test modules (the fixtures are in tests/conftest.py).

apps: paths, CI checks, a fresh PostgreSQL database, test apps and the example declaration;
consent: a valid consent body; live: servers on loopback; sinks: webhook and mail receivers;
browsers: Chromium, ChromeDriver and Playwright contexts; site: the fixture shop the scanner
scans; banner: the banner's test page; log: the consent log's bundles and rows; scans: scan
reports and stored scans; policy: the policy-analysis tests' texts and rows.
"""
