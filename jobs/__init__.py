"""RQ jobs: thin functions that take ids, call a service, and report progress on an Operation."""
