"""Settings, read from environment variables only. Every default suits a laptop run (`make run`)."""
from __future__ import annotations

import os
from pathlib import Path

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"
DEMO_SECRET_KEY = "dev-only-not-secret"  # demo and test runs only (DEMO_MODE)


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
        # A pooled connection is checked before use only after it has been idle a while (app/__init__.py), not on
        # every checkout as pool_pre_ping would: that was a round trip (and a statement) on every request.
        self.SQLALCHEMY_ENGINE_OPTIONS: dict = {}
        # REDIS_URL: RQ queues, circuit breaker state. `make run` starts a local server when unset.
        self.REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        # DEMO_MODE: a local demo or test run (`make run` and the tests set it): a missing SECRET_KEY falls back to
        # a development value. Unset (production), the app refuses to start without SECRET_KEY.
        self.DEMO_MODE = _bool("DEMO_MODE", False)
        # SECRET_KEY: signs the session cookie and CSRF tokens. Required outside demo mode (app.check_settings).
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or (DEMO_SECRET_KEY if self.DEMO_MODE else None)
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
        # MAX_CONTENT_LENGTH: no form here is bigger than a few kilobytes (a register note is at most 4,000
        # characters): a larger request is answered 413 "What you sent is too large", however it is encoded (the
        # same limit for one field of a multipart form, MAX_FORM_MEMORY_SIZE).
        self.MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(256 * 1024)))
        self.MAX_FORM_MEMORY_SIZE = self.MAX_CONTENT_LENGTH
        # PROXY_HOPS: how many reverse proxies sit in front (ProxyFix trusts that many X-Forwarded-* hops). 0: none
        # trusted, so a client cannot choose its own address or scheme unless a proxy is said to be there.
        self.PROXY_HOPS = int(os.environ.get("PROXY_HOPS", "0"))
        # RQ_QUEUE: name of the queue jobs go to.
        self.RQ_QUEUE = os.environ.get("RQ_QUEUE", "programme-delivery")
        # WORKER_HEARTBEAT / WORKER_DEAD_AFTER (s): a worker running a job records a heartbeat this often; one
        # silent for WORKER_DEAD_AFTER (or whose process on this machine has ended) is gone, and its job is run
        # again (jobs.recovery). RECOVERY_INTERVAL (s): how often the scheduler's watchdog looks for such work
        # (operations, RQ jobs); RECOVERY_GRACE (s): an operation queued this recently is left to its own job.
        self.WORKER_HEARTBEAT = int(os.environ.get("WORKER_HEARTBEAT", "10"))
        self.WORKER_DEAD_AFTER = float(os.environ.get("WORKER_DEAD_AFTER", "35"))
        self.RECOVERY_INTERVAL = float(os.environ.get("RECOVERY_INTERVAL", "10"))
        self.RECOVERY_GRACE = float(os.environ.get("RECOVERY_GRACE", "5"))
        # RESCHEDULE_STEP_DELAY: seconds to pause between the sessions a reschedule job moves (0; tests and
        # demos slow it down to watch the progress bar or to kill a worker part-way).
        self.RESCHEDULE_STEP_DELAY = float(os.environ.get("RESCHEDULE_STEP_DELAY", "0"))
        # HMPPS_AUTH_URL: HMPPS Auth's base URL (e.g. https://sign-in-dev.hmpps.service.justice.gov.uk/auth):
        # /oauth/authorize, /oauth/token, /.well-known/jwks.json, /api/user/me and /sign-out are under it.
        # Default: the fake HMPPS Auth that `make run` starts.
        self.HMPPS_AUTH_URL = os.environ.get("HMPPS_AUTH_URL", "http://127.0.0.1:9092")
        # HMPPS_AUTH_EXTERNAL_URL: the same server as the browser reaches it, if that differs (default the same).
        self.HMPPS_AUTH_EXTERNAL_URL = os.environ.get("HMPPS_AUTH_EXTERNAL_URL", self.HMPPS_AUTH_URL)
        # HMPPS_AUTH_CLIENT_ID, HMPPS_AUTH_CLIENT_SECRET: this service's sign-in client (authorisation code).
        self.HMPPS_AUTH_CLIENT_ID = os.environ.get("HMPPS_AUTH_CLIENT_ID", "programme-delivery-ui")
        self.HMPPS_AUTH_CLIENT_SECRET = os.environ.get("HMPPS_AUTH_CLIENT_SECRET", "local-ui-secret")
        # NDELIUS_URL: the Appointments API (and the staff teams read at sign-in). NDELIUS_CLIENT_ID and
        # NDELIUS_CLIENT_SECRET: the system client whose client-credentials token, from
        # {HMPPS_AUTH_URL}/oauth/token, calls it.
        self.NDELIUS_URL = os.environ.get("NDELIUS_URL", "http://127.0.0.1:9091")
        self.NDELIUS_CLIENT_ID = os.environ.get("NDELIUS_CLIENT_ID", "programme-delivery")
        self.NDELIUS_CLIENT_SECRET = os.environ.get("NDELIUS_CLIENT_SECRET", "local-secret")
        # NDELIUS_CONNECT_TIMEOUT / NDELIUS_READ_TIMEOUT (s): every call has both.
        self.NDELIUS_CONNECT_TIMEOUT = float(os.environ.get("NDELIUS_CONNECT_TIMEOUT", "3.05"))
        self.NDELIUS_READ_TIMEOUT = float(os.environ.get("NDELIUS_READ_TIMEOUT", "15"))
        # NDELIUS_CONCURRENCY: most calls to nDelius in flight at once from one relay (RELIABILITY L3: <= 2).
        self.NDELIUS_CONCURRENCY = int(os.environ.get("NDELIUS_CONCURRENCY", "2"))
        # NDELIUS_BATCH_SIZE: most appointments in one nDelius call (an array of creates, updates or deletes;
        # at most 50); a relay claims NDELIUS_CONCURRENCY calls' worth at a time.
        self.NDELIUS_BATCH_SIZE = int(os.environ.get("NDELIUS_BATCH_SIZE", "50"))
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
        # SCHEDULER_TICK (s): how often `python -m jobs.scheduler` looks whether a job's period has begun. Any
        # number of schedulers may run: each job runs once per period, whoever claims it first in Redis.
        self.SCHEDULER_TICK = float(os.environ.get("SCHEDULER_TICK", "0.5"))
        # NIGHTLY_AT: the time of day (HH:MM, UTC) the nightly jobs' periods begin (progress verify, bank holidays).
        # PROGRESS_VERIFY_INTERVAL (s): how often `flask progress verify`'s check runs from the scheduler (nightly).
        self.NIGHTLY_AT = os.environ.get("NIGHTLY_AT", "02:00")
        self.PROGRESS_VERIFY_INTERVAL = float(os.environ.get("PROGRESS_VERIFY_INTERVAL", "86400"))
        # NDELIUS_RECONCILE_DAYS_BACK: reconciliation compares appointments from this many days ago onwards.
        self.NDELIUS_RECONCILE_DAYS_BACK = int(os.environ.get("NDELIUS_RECONCILE_DAYS_BACK", "60"))
        # --- HMPPS domain events (issue 14; README "Domain events") ---
        # AWS_ENDPOINT_URL: the SNS/SQS endpoint. Unset: AWS itself (credentials from the usual AWS variables);
        # `make run` and the tests point it at a local SNS/SQS server (moto) on LOCAL_SNS_SQS_PORT.
        self.AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL") or None
        # AWS_REGION: the region of the topic and queues.
        self.AWS_REGION = os.environ.get("AWS_REGION", "eu-west-2")
        # DOMAIN_EVENTS_TOPIC_ARN: the HMPPS domain events SNS topic we publish to.
        self.DOMAIN_EVENTS_TOPIC_ARN = os.environ.get(
            "DOMAIN_EVENTS_TOPIC_ARN", "arn:aws:sns:eu-west-2:123456789012:hmpps-domain-events")
        # DOMAIN_EVENTS_QUEUE_URL / DOMAIN_EVENTS_DLQ_URL: our SQS queue (subscribed to the topic, filtered to
        # the events we consume) and its dead-letter queue.
        self.DOMAIN_EVENTS_QUEUE_URL = os.environ.get(
            "DOMAIN_EVENTS_QUEUE_URL", "http://127.0.0.1:9093/123456789012/programme-delivery-domain-events")
        self.DOMAIN_EVENTS_DLQ_URL = os.environ.get(
            "DOMAIN_EVENTS_DLQ_URL", "http://127.0.0.1:9093/123456789012/programme-delivery-domain-events-dlq")
        # DOMAIN_EVENTS_MAX_RECEIVES: a message that failed this many times goes to the dead-letter queue.
        self.DOMAIN_EVENTS_MAX_RECEIVES = int(os.environ.get("DOMAIN_EVENTS_MAX_RECEIVES", "5"))
        # DOMAIN_EVENTS_VISIBILITY_TIMEOUT (s): how long a message that failed for a passing reason (nDelius or
        # the referral source down) waits before it is tried again.
        self.DOMAIN_EVENTS_VISIBILITY_TIMEOUT = int(os.environ.get("DOMAIN_EVENTS_VISIBILITY_TIMEOUT", "30"))
        # EVENTS_RELAY_INTERVAL (s): `python -m jobs.scheduler` queues the domain-event publisher this often
        # (only when the outbox holds due events).
        self.EVENTS_RELAY_INTERVAL = float(os.environ.get("EVENTS_RELAY_INTERVAL", "2"))
        # STAFF_REFRESH_INTERVAL (s): `python -m jobs.scheduler` reads each region's staff from nDelius this often
        # (GET /regions/{code}/members: the facilitators to choose from, app/services/staff.py)
        self.STAFF_REFRESH_INTERVAL = float(os.environ.get("STAFF_REFRESH_INTERVAL", "3600"))
        # API_BASE_URL: our own address as other services reach it (the detailUrl of events we publish).
        self.API_BASE_URL = os.environ.get("API_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
        # DETAIL_API_ROLE: the HMPPS Auth role a client-credentials token needs to read those detailUrls.
        self.DETAIL_API_ROLE = os.environ.get("DETAIL_API_ROLE", "ROLE_ACCREDITED_PROGRAMMES_COMMUNITY__EVENTS_RO")
        # REFERRAL_SOURCE_TIMEOUT (s): read timeout for an event's detailUrl (the referral's details).
        self.REFERRAL_SOURCE_TIMEOUT = float(os.environ.get("REFERRAL_SOURCE_TIMEOUT", "10"))
        # LAO_CACHE_SECONDS: how long nDelius's answer to "may this user see these people?" is reused.
        # LAO_STALE_SECONDS: while nDelius cannot answer, an older answer is used up to this age; beyond it
        # the person is shown as restricted (never shown without a check).
        # LAO_CHECKS: ask nDelius before showing a person (true; the unit and web tests that do not run a fake
        # nDelius turn it off, the LAO tests on).
        self.LAO_CHECKS = _bool("LAO_CHECKS", True)
        self.LAO_CACHE_SECONDS = int(os.environ.get("LAO_CACHE_SECONDS", "120"))
        self.LAO_STALE_SECONDS = int(os.environ.get("LAO_STALE_SECONDS", "28800"))
        # BANK_HOLIDAYS_URL: the GOV.UK bank holidays JSON.
        self.BANK_HOLIDAYS_URL = os.environ.get("BANK_HOLIDAYS_URL", "https://www.gov.uk/bank-holidays.json")
        # BANK_HOLIDAYS_REFRESH_INTERVAL (s): how often the scheduler fetches it again (nightly, at NIGHTLY_AT).
        self.BANK_HOLIDAYS_REFRESH_INTERVAL = float(os.environ.get("BANK_HOLIDAYS_REFRESH_INTERVAL", "86400"))
        # TIMEZONE: wall clock of sessions (England and Wales).
        self.TIMEZONE = os.environ.get("TIMEZONE", "Europe/London")
        # REGION_CACHE_SECONDS: how long the regional dashboard, region calendar, groups list, progress grids and
        # registers keep what they worked out, in each process and in Redis (app/web/region_cache.py; a change in
        # the region is seen on the next load). 0 works them out every time.
        self.REGION_CACHE_SECONDS = float(os.environ.get("REGION_CACHE_SECONDS", "5"))
        # BUILD_VERSION / GIT_REF: what /info reports (the deployment sets them, as HMPPS builds set BUILD_NUMBER
        # and GIT_REF); unset, the package version and `git rev-parse HEAD` of the checkout.
        self.BUILD_VERSION = os.environ.get("BUILD_VERSION") or os.environ.get("BUILD_NUMBER") or None
        self.GIT_REF = os.environ.get("GIT_REF") or None
        # LOG_LEVEL: structured (JSON) logs at this level.
        self.LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
