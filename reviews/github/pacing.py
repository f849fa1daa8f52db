"""Pacing GitHub requests per identity: the secondary limits on content creation, the pauses
GitHub asks for, and the primary limit's remaining budget. No Django imports.

An identity is a hash of the API URL and the token (`identity`): a personal token is one
identity, and in App mode each installation token is its own. Its writes, the requests
that create content (comments, reviews, statuses, reactions, GraphQL mutations), are held
under GitHub's documented secondary limits (docs/github-facts.md L3: 80 a minute and 500 an
hour), spread at least `interval` apart (L4 asks for spacing rather than bursts), and paused
for as long as a 403/429 said (L2). The windows are shared by every process through Redis
(one Lua script, so checking and taking a slot is atomic); without Redis (the embedded
defaults) they are this process's own.

A caller asks for a slot it is willing to wait for (`reserve`): the slot is then taken at a
time no later than `max_wait` from now, and the caller sleeps until it; a slot further away
is not taken, and the caller reschedules its work instead of holding a thread asleep.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

# GitHub's content-creation limits (docs/github-facts.md L3) and L4's spacing, evenly spread:
# 80 a minute is one every 0.75 s.
PER_MINUTE = 80
PER_HOUR = 500
INTERVAL = 60 / PER_MINUTE
# A write is counted in its window a second longer than GitHub's minute and hour: the slot's
# time is when it was granted, and the request reaches GitHub a little later (a busy thread,
# the network); a request sent late must not make 81 in GitHub's minute.
WINDOW_MARGIN = 1.0
MINUTE = 60.0 + WINDOW_MARGIN
HOUR = 3600.0 + WINDOW_MARGIN
# Primary limit (L1): below this many requests left, reads wait for the reset, so the
# reviews already done can still post their results with what remains.
PRIMARY_RESERVE = 50

KEY_PREFIX = "prism:github:pacing"


def identity(base_url: str, token: str) -> str:
    """Who GitHub counts a request against, without the token itself."""
    return hashlib.sha256(f"{base_url.rstrip('/')} {token}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Slot:
    """A write's turn: `granted` at `wait` seconds from now, else the wait it would need."""

    granted: bool
    wait: float


@dataclass(frozen=True)
class Limits:
    per_minute: int = PER_MINUTE
    per_hour: int = PER_HOUR
    interval: float = INTERVAL


class Pacer:
    """Slots for each identity's writes, pauses, and the primary limit's remaining budget."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        redis: Any = None,
        clock: Callable[[], float] = time.time,
        prefix: str = KEY_PREFIX,
    ) -> None:
        self.limits = limits or Limits()
        self._clock = clock
        self._shared = _RedisWindows(redis, prefix) if redis is not None else None
        self._local = _LocalWindows()
        self._primary: dict[str, tuple[int, float]] = {}

    def reserve(self, who: str, *, max_wait: float, keep_free: int = 0) -> Slot:
        """Take the identity's next write slot if it comes within `max_wait` seconds.

        `keep_free`: slots of the minute that must stay free after this one; a write that
        matters less (a pending status) leaves the rest of a busy minute to those that do.
        """
        now = self._clock()
        if self._shared is not None:
            try:
                return self._shared.reserve(who, now, max_wait, self.limits, keep_free)
            except Exception:  # Redis down: pace this process alone rather than not at all
                logger.warning("pacing falls back to this process: Redis failed", exc_info=True)
        return self._local.reserve(who, now, max_wait, self.limits, keep_free)

    def pause(self, who: str, seconds: float) -> None:
        """Hold every write of the identity for `seconds` (GitHub's retry-after), everywhere."""
        until = self._clock() + max(seconds, 0.0)
        self._local.pause(who, until)
        if self._shared is not None:
            try:
                self._shared.pause(who, until)
            except Exception:
                logger.warning("could not share a GitHub pause: Redis failed", exc_info=True)

    def observe(self, who: str, *, remaining: int, reset: float) -> None:
        """What GitHub's x-ratelimit headers said about the identity's primary budget.

        Kept per process: every process reads the same count in its own answers' headers.
        """
        self._primary[who] = (remaining, reset)

    def primary_wait(self, who: str, *, write: bool) -> float:
        """Seconds until the primary limit resets, when too little of it is left.

        Reads stop at PRIMARY_RESERVE requests left; writes, which finish reviews already
        paid for, may use the reserve and stop only at none.
        """
        remaining, reset = self._primary.get(who, (PRIMARY_RESERVE + 1, 0.0))
        floor = 0 if write else PRIMARY_RESERVE
        wait = reset - self._clock()
        return wait if remaining <= floor and wait > 0 else 0.0


@dataclass
class _Window:
    minute: deque[float] = field(default_factory=deque)
    hour: deque[float] = field(default_factory=deque)
    last: float = float("-inf")
    paused: float = float("-inf")


class _LocalWindows:
    """The same arithmetic as the Lua script below, for one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def reserve(
        self, who: str, now: float, max_wait: float, limits: Limits, keep_free: int = 0
    ) -> Slot:
        with self._lock:
            window = self._windows.setdefault(who, _Window())
            for times, span in ((window.minute, MINUTE), (window.hour, HOUR)):
                while times and times[0] <= now - span:
                    times.popleft()
            at = max(now, window.paused, window.last + limits.interval)
            for times, limit, span in (
                (window.minute, max(limits.per_minute - keep_free, 1), MINUTE),
                (window.hour, limits.per_hour, HOUR),
            ):
                if len(times) >= limit:
                    # Sorted: the slot frees when the limit-th newest leaves the window.
                    at = max(at, times[len(times) - limit] + span)
            wait = at - now
            if wait > max_wait:
                return Slot(granted=False, wait=wait)
            window.minute.append(at)
            window.hour.append(at)
            window.last = at
            return Slot(granted=True, wait=wait)

    def pause(self, who: str, until: float) -> None:
        with self._lock:
            window = self._windows.setdefault(who, _Window())
            window.paused = max(window.paused, until)


# KEYS: the minute and hour sorted sets (score = a slot's time), the state hash (last, paused).
# ARGV: now, max_wait, per_minute, minute, per_hour, hour, interval, member, ttl.
# Slots are taken in time order (never before the last one), so each window stays sorted by
# the order of taking and a slot frees when the limit-th newest ages out.
_RESERVE = """
local now = tonumber(ARGV[1])
local at = now
local paused = tonumber(redis.call('HGET', KEYS[3], 'paused') or '')
if paused and paused > at then at = paused end
local last = tonumber(redis.call('HGET', KEYS[3], 'last') or '')
if last and last + tonumber(ARGV[7]) > at then at = last + tonumber(ARGV[7]) end
local windows = {{KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[4])},
                 {KEYS[2], tonumber(ARGV[5]), tonumber(ARGV[6])}}
for _, w in ipairs(windows) do
  redis.call('ZREMRANGEBYSCORE', w[1], '-inf', now - w[3])
  local n = redis.call('ZCARD', w[1])
  if n >= w[2] then
    local oldest = redis.call('ZRANGE', w[1], n - w[2], n - w[2], 'WITHSCORES')
    local free = tonumber(oldest[2]) + w[3]
    if free > at then at = free end
  end
end
local wait = at - now
if wait > tonumber(ARGV[2]) then return {0, tostring(wait)} end
for _, w in ipairs(windows) do
  redis.call('ZADD', w[1], at, ARGV[8])
  redis.call('EXPIRE', w[1], ARGV[9])
end
redis.call('HSET', KEYS[3], 'last', tostring(at))
redis.call('EXPIRE', KEYS[3], ARGV[9])
return {1, tostring(wait)}
"""

_PAUSE = """
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '')
if not paused or tonumber(ARGV[1]) > paused then
  redis.call('HSET', KEYS[1], 'paused', ARGV[1])
end
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


class _RedisWindows:
    def __init__(self, redis: Any, prefix: str) -> None:
        self._reserve = redis.register_script(_RESERVE)
        self._pause = redis.register_script(_PAUSE)
        self._prefix = prefix

    def _keys(self, who: str) -> list[str]:
        # One hash tag: the three keys of an identity live on one Redis Cluster slot.
        return [f"{self._prefix}:{{{who}}}:{part}" for part in ("minute", "hour", "state")]

    def reserve(
        self, who: str, now: float, max_wait: float, limits: Limits, keep_free: int = 0
    ) -> Slot:
        granted, wait = self._reserve(
            keys=self._keys(who),
            args=[
                repr(now),
                repr(max_wait),
                max(limits.per_minute - keep_free, 1),
                repr(MINUTE),
                limits.per_hour,
                repr(HOUR),
                repr(limits.interval),
                f"{now!r}:{uuid.uuid4().hex}",
                int(HOUR) + 60,
            ],
        )
        return Slot(granted=bool(int(granted)), wait=float(wait))

    def pause(self, who: str, until: float) -> None:
        ttl = int(max(until - time.time(), 0)) + int(HOUR) + 60
        self._pause(keys=self._keys(who)[2:], args=[repr(until), ttl])
