"""Use cases. Each public function is one transaction: it loads, applies the pure rules, writes rows, audit
and outbox, and commits once. Views and jobs never commit."""
