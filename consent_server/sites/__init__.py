"""Sites: declarations applied as revisions, the banner's configuration, the cookie-policy page, API tokens."""
