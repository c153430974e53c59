"""A circuit breaker whose state lives in Redis, so every worker process sees the same circuit.

closed -> (``fail_max`` consecutive failures) -> open -> (``reset_timeout`` seconds) -> half_open half_open
lets exactly one trial call through: its success closes the circuit, its failure opens it again.

State is one Redis hash ``circuit:<name>`` with ``failures``, ``opened_at`` and ``probe_at``; every change is
a Lua script, so concurrent workers cannot both take the half-open trial or lose a failure count. Times come
from ``clock`` (seconds, default ``time.time``) so tests can move time without sleeping.

Count only infrastructure faults as failures (``TransientError``); a 400 or 409 means nDelius is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from app.integrations.errors import CircuitOpenError, PermanentError, TransientError

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

# KEYS[1] hash; ARGV now, reset_timeout. Returns 1 when the call may go ahead.
_ALLOW = """
local opened = redis.call('HGET', KEYS[1], 'opened_at')
if not opened then return 1 end
local now, reset = tonumber(ARGV[1]), tonumber(ARGV[2])
if now - tonumber(opened) < reset then return 0 end
local probe = redis.call('HGET', KEYS[1], 'probe_at')
if probe and now - tonumber(probe) < reset then return 0 end
redis.call('HSET', KEYS[1], 'probe_at', ARGV[1])
return 1
"""

# KEYS[1] hash; ARGV now, reset_timeout, fail_max, key_ttl_ms. Returns the failure count.
_FAILURE = """
local now, reset, fail_max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local opened = redis.call('HGET', KEYS[1], 'opened_at')
local n = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if opened then
  if now - tonumber(opened) >= reset then
    redis.call('HSET', KEYS[1], 'opened_at', ARGV[1])
    redis.call('HDEL', KEYS[1], 'probe_at')
  end
elseif n >= fail_max then
  redis.call('HSET', KEYS[1], 'opened_at', ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return n
"""

# KEYS[1] hash; ARGV now, reset_timeout. A late success while fully open is ignored.
_SUCCESS = """
local opened = redis.call('HGET', KEYS[1], 'opened_at')
if opened and tonumber(ARGV[1]) - tonumber(opened) < tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""


class RedisCircuitBreaker:
    def __init__(
        self,
        redis: Any,
        name: str = "ndelius",
        fail_max: int = 5,
        reset_timeout: float = 60,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if fail_max < 1 or reset_timeout <= 0:
            raise ValueError("fail_max must be >= 1 and reset_timeout > 0")
        self.redis = redis
        self.name = name
        self.key = f"circuit:{name}"
        self.fail_max = fail_max
        self.reset_timeout = float(reset_timeout)
        self.clock = clock
        # Forget a stale failure count after a day without failures.
        self._ttl_ms = int(max(self.reset_timeout * 10, 86400) * 1000)
        self._allow = redis.register_script(_ALLOW)
        self._failure = redis.register_script(_FAILURE)
        self._success = redis.register_script(_SUCCESS)

    def _now(self) -> str:
        return repr(float(self.clock()))

    def allow(self) -> bool:
        """May a call go out now? In half_open only the first caller gets True until it reports back."""
        return bool(self._allow(keys=[self.key], args=[self._now(), self.reset_timeout]))

    def success(self) -> None:
        self._success(keys=[self.key], args=[self._now(), self.reset_timeout])

    def failure(self) -> None:
        self._failure(keys=[self.key], args=[self._now(), self.reset_timeout, self.fail_max, self._ttl_ms])

    def _fields(self) -> tuple[int, float | None]:
        failures, opened = self.redis.hmget(self.key, "failures", "opened_at")
        return int(failures or 0), (float(opened) if opened is not None else None)

    @property
    def state(self) -> str:
        _, opened = self._fields()
        if opened is None:
            return CLOSED
        return OPEN if self.clock() - opened < self.reset_timeout else HALF_OPEN

    @property
    def failures(self) -> int:
        return self._fields()[0]

    def retry_in(self) -> float:
        """Seconds until a trial call will be allowed (0 when closed or half-open)."""
        _, opened = self._fields()
        return 0.0 if opened is None else max(0.0, opened + self.reset_timeout - self.clock())

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` through the breaker; raise ``CircuitOpenError`` without calling it when open.

        ``TransientError`` counts as a failure; a result or ``PermanentError`` (nDelius answered) a success.
        """
        if not self.allow():
            wait = self.retry_in()
            raise CircuitOpenError(
                f"circuit '{self.name}' is open; nDelius calls paused", retry_after=wait or self.reset_timeout
            )
        try:
            result = fn()
        except TransientError:
            self.failure()
            raise
        except PermanentError:
            self.success()
            raise
        self.success()
        return result

    def reset(self) -> None:
        self.redis.delete(self.key)
