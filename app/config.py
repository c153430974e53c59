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
        # RQ_QUEUE: name of the queue jobs go to.
        self.RQ_QUEUE = os.environ.get("RQ_QUEUE", "programme-delivery")
        # RQ_SYNC: run jobs in-process (tests of the web layer); the worker is used otherwise.
        self.RQ_SYNC = _bool("RQ_SYNC", False)
        # NDELIUS_URL, HMPPS_AUTH_URL, NDELIUS_CLIENT_ID, NDELIUS_CLIENT_SECRET: the Appointments API.
        self.NDELIUS_URL = os.environ.get("NDELIUS_URL", "http://127.0.0.1:9091")
        self.HMPPS_AUTH_URL = os.environ.get("HMPPS_AUTH_URL", self.NDELIUS_URL + "/oauth/token")
        self.NDELIUS_CLIENT_ID = os.environ.get("NDELIUS_CLIENT_ID", "programme-delivery")
        self.NDELIUS_CLIENT_SECRET = os.environ.get("NDELIUS_CLIENT_SECRET", "local-secret")
        # BANK_HOLIDAYS_URL: the GOV.UK bank holidays JSON.
        self.BANK_HOLIDAYS_URL = os.environ.get("BANK_HOLIDAYS_URL", "https://www.gov.uk/bank-holidays.json")
        # TIMEZONE: wall clock of sessions (England and Wales).
        self.TIMEZONE = os.environ.get("TIMEZONE", "Europe/London")
        # LOG_LEVEL: structured (JSON) logs at this level.
        self.LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
