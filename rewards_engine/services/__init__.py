"""Use cases. Each public function runs in one transaction of its own."""
