"""What every model call of one worker process shares: a cap on the calls in flight
(LLM_MAX_INFLIGHT), and one gate per model that a rate limit closes for every caller.

A worker runs several reviews at once, and each review asks the model about its chunks in
parallel (LLM_CONCURRENCY). Without a shared cap a burst of reviews multiplies the two and
can exceed a provider's concurrency limit (a local vLLM or Ollama server has a hard one).
Without a shared gate each thread that meets a 429 backs off on its own schedule while the
others keep calling, so the provider sees the burst go on while it asks us to slow down.

Process-wide on purpose: the slots and gates live in this module, so every client built in
the process (one per review) finds the same ones. Pure: no Django.
"""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

# A caller that had to wait this long for a slot says so at info level; shorter waits are
# the cap doing its job quietly.
WAIT_WORTH_LOGGING = 1.0


class NoSlot(Exception):
    """No call slot came free within the bounded wait."""

    def __init__(self, limit: int, waited: float):
        super().__init__(f"no model call slot came free within {waited:.0f}s")
        self.limit = limit
        self.waited = waited


class Slots:
    """At most `limit` model calls in flight in this process, whatever review makes them."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("a slot limit is at least 1")
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)

    @contextmanager
    def hold(self, *, timeout: float, model: str = "") -> Iterator[float]:
        """Hold one slot for the duration of the block; yields the seconds spent waiting."""
        started = time.monotonic()
        if not self._semaphore.acquire(blocking=False):
            logger.info(
                "LLM call waiting for a slot: %d in flight (LLM_MAX_INFLIGHT) model=%s",
                self.limit,
                model,
            )
            if not self._semaphore.acquire(timeout=timeout):
                raise NoSlot(self.limit, time.monotonic() - started)
        waited = time.monotonic() - started
        if waited >= WAIT_WORTH_LOGGING:
            logger.info("LLM call got a slot after %.1fs model=%s", waited, model)
        try:
            yield waited
        finally:
            self._semaphore.release()


class Gate:
    """Open, or closed until a moment: after a rate limit, no caller calls the model before.

    Times are read from the caller's clock (`now`), so a test can drive the gate with a fake
    one; in a process every caller uses time.monotonic.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._opens_at = float("-inf")

    def close_for(self, seconds: float, *, now: float) -> None:
        """Close it for `seconds` from `now`, or leave it closed longer if it already is."""
        with self._lock:
            self._opens_at = max(self._opens_at, now + max(0.0, seconds))

    def remaining(self, *, now: float) -> float:
        """Seconds until it opens; 0 when open."""
        with self._lock:
            return max(0.0, self._opens_at - now)


_lock = threading.Lock()
_gates: dict[tuple[str, str], Gate] = {}
_slots: dict[int, Slots] = {}


def gate(base_url: str, model: str) -> Gate:
    """The process's gate for one model of one provider: a 429 from one model of OpenRouter
    says nothing about another model's limits."""
    key = (base_url.rstrip("/"), model)
    with _lock:
        return _gates.setdefault(key, Gate())


def slots(limit: int) -> Slots | None:
    """The process's call slots (None: no cap). Keyed by the limit only so that a test that
    changes the setting gets its own; a process has one limit."""
    if limit <= 0:
        return None
    with _lock:
        return _slots.setdefault(limit, Slots(limit))


def reset() -> None:
    """Forget every gate and slot (tests: each starts with open gates and free slots)."""
    with _lock:
        _gates.clear()
        _slots.clear()
