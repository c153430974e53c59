"""`python -m jobs.worker`: an RQ worker for the app's queue, inside the app."""
from __future__ import annotations

import sys

from rq import Worker

from jobs.context import worker_app
from jobs.enqueue import queue


def main(argv: list[str]) -> int:
    app = worker_app()
    with app.app_context():
        q = queue()
        worker = Worker([q], connection=q.connection)
        worker.work(burst="--burst" in argv, with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
