"""`python -m jobs.worker`: an RQ worker for the app's queue, inside the app."""
from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any

from rq import Worker as RQWorker

from jobs.context import worker_app
from jobs.enqueue import queue

PR_SET_PDEATHSIG = 1


class Worker(RQWorker):
    """RQ's worker, whose work horse (the forked process running a job, in a process group of its own) dies with
    it: a worker killed with SIGKILL leaves no job running unseen, and jobs.recovery carries the job on."""

    def main_work_horse(self, *args: Any, **kwargs: Any) -> None:
        _die_with_parent()
        super().main_work_horse(*args, **kwargs)


def _die_with_parent() -> None:
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (AttributeError, OSError):  # not Linux: the horse may outlive a killed worker and finish its job
        return
    if os.getppid() != parent:  # the worker died before the line above
        os._exit(1)


def main(argv: list[str]) -> int:
    app = worker_app()
    with app.app_context():
        q = queue()
        # A heartbeat every WORKER_HEARTBEAT seconds while a job runs: silence tells jobs.recovery it is gone.
        worker = Worker([q], connection=q.connection, job_monitoring_interval=app.config["WORKER_HEARTBEAT"])
        worker.work(burst="--burst" in argv, with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
