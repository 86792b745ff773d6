"""Cookie scanner: crawl a site in a real browser and compare what it sets with its declaration."""
