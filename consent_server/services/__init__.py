"""Business logic; each public function owns its transaction."""
