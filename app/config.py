"""Settings, read from environment variables only. Every default suits a laptop run (`make run`)."""
from __future__ import annotations

import os
from pathlib import Path

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        INSTANCE_DIR.mkdir(exist_ok=True)
        return f"sqlite:///{INSTANCE_DIR / 'programme_delivery.sqlite3'}"
    # Heroku-style URLs and plain "postgresql://" both mean psycopg 3 here.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    """One class; each attribute documents its environment variable."""

    def __init__(self) -> None:
        # DATABASE_URL: SQLAlchemy URL; default an SQLite file under instance/.
        self.SQLALCHEMY_DATABASE_URI = _database_url()
        self.SQLALCHEMY_ENGINE_OPTIONS = (
            {"pool_pre_ping": True} if not self.SQLALCHEMY_DATABASE_URI.startswith("sqlite") else {}
        )
        # REDIS_URL: RQ queues, circuit breaker state. `make run` starts a local server when unset.
        self.REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        # SECRET_KEY: signs the session cookie and CSRF tokens. Must be set in production.
        self.SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
        # CSRF tokens live as long as the signed-in session (a register open for a 150-minute session still saves).
        self.WTF_CSRF_TIME_LIMIT = None
        self.WTF_CSRF_HEADERS = ["X-CSRFToken"]
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # SESSION_COOKIE_SECURE: true behind HTTPS (production); false for the local http run.
        self.SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
        # Over HTTPS the cookie is host-only and can't be set by a sibling domain: the __Host- prefix.
        self.SESSION_COOKIE_NAME = "__Host-session" if self.SESSION_COOKIE_SECURE else "session"
        self.SESSION_COOKIE_PATH = "/"
        # MAX_CONTENT_LENGTH: no form here is bigger than a few kilobytes.
        self.MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(1024 * 1024)))
        # PROXY_HOPS: how many reverse proxies sit in front (ProxyFix trusts that many X-Forwarded-* hops).
        self.PROXY_HOPS = int(os.environ.get("PROXY_HOPS", "1"))
        # RQ_QUEUE: name of the queue jobs go to.
        self.RQ_QUEUE = os.environ.get("RQ_QUEUE", "programme-delivery")
        # RQ_SYNC: run jobs in-process (tests of the web layer); the worker is used otherwise.
        self.RQ_SYNC = _bool("RQ_SYNC", False)
        # RESCHEDULE_STEP_DELAY: seconds to pause between the sessions a reschedule job moves (0; tests and
        # demos slow it down to watch the progress bar or to kill a worker part-way).
        self.RESCHEDULE_STEP_DELAY = float(os.environ.get("RESCHEDULE_STEP_DELAY", "0"))
        # NDELIUS_URL, HMPPS_AUTH_URL, NDELIUS_CLIENT_ID, NDELIUS_CLIENT_SECRET: the Appointments API.
        self.NDELIUS_URL = os.environ.get("NDELIUS_URL", "http://127.0.0.1:9091")
        self.HMPPS_AUTH_URL = os.environ.get("HMPPS_AUTH_URL", self.NDELIUS_URL + "/oauth/token")
        self.NDELIUS_CLIENT_ID = os.environ.get("NDELIUS_CLIENT_ID", "programme-delivery")
        self.NDELIUS_CLIENT_SECRET = os.environ.get("NDELIUS_CLIENT_SECRET", "local-secret")
        # NDELIUS_CONNECT_TIMEOUT / NDELIUS_READ_TIMEOUT (s): every call has both.
        self.NDELIUS_CONNECT_TIMEOUT = float(os.environ.get("NDELIUS_CONNECT_TIMEOUT", "3.05"))
        self.NDELIUS_READ_TIMEOUT = float(os.environ.get("NDELIUS_READ_TIMEOUT", "15"))
        # NDELIUS_CONCURRENCY: most calls to nDelius in flight at once from one relay (RELIABILITY L3: <= 2).
        self.NDELIUS_CONCURRENCY = int(os.environ.get("NDELIUS_CONCURRENCY", "2"))
        # NDELIUS_BATCH_SIZE: appointments a relay claims at a time.
        self.NDELIUS_BATCH_SIZE = int(os.environ.get("NDELIUS_BATCH_SIZE", "20"))
        # NDELIUS_RETRY_BASE / NDELIUS_RETRY_CAP (s): full-jitter backoff between attempts of one change.
        self.NDELIUS_RETRY_BASE = float(os.environ.get("NDELIUS_RETRY_BASE", "2"))
        self.NDELIUS_RETRY_CAP = float(os.environ.get("NDELIUS_RETRY_CAP", "600"))
        # NDELIUS_BREAKER_FAILURES / NDELIUS_BREAKER_RESET (s): the circuit opens after that many failures in a
        # row and lets one trial call through after the reset time.
        self.NDELIUS_BREAKER_FAILURES = int(os.environ.get("NDELIUS_BREAKER_FAILURES", "5"))
        self.NDELIUS_BREAKER_RESET = float(os.environ.get("NDELIUS_BREAKER_RESET", "60"))
        # NDELIUS_RELAY_INTERVAL / NDELIUS_SWEEP_INTERVAL / NDELIUS_RECONCILE_INTERVAL (s): `python -m
        # jobs.scheduler` queues the relay, the outbox sweeper and reconciliation this often.
        self.NDELIUS_RELAY_INTERVAL = float(os.environ.get("NDELIUS_RELAY_INTERVAL", "5"))
        self.NDELIUS_SWEEP_INTERVAL = float(os.environ.get("NDELIUS_SWEEP_INTERVAL", "60"))
        self.NDELIUS_RECONCILE_INTERVAL = float(os.environ.get("NDELIUS_RECONCILE_INTERVAL", "900"))
        # NDELIUS_RECONCILE_DAYS_BACK: reconciliation compares appointments from this many days ago onwards.
        self.NDELIUS_RECONCILE_DAYS_BACK = int(os.environ.get("NDELIUS_RECONCILE_DAYS_BACK", "60"))
        # BANK_HOLIDAYS_URL: the GOV.UK bank holidays JSON.
        self.BANK_HOLIDAYS_URL = os.environ.get("BANK_HOLIDAYS_URL", "https://www.gov.uk/bank-holidays.json")
        # TIMEZONE: wall clock of sessions (England and Wales).
        self.TIMEZONE = os.environ.get("TIMEZONE", "Europe/London")
        # LOG_LEVEL: structured (JSON) logs at this level.
        self.LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
