"""A clock the model client sleeps on without time passing: `sleep(s)` moves it on by `s`.

Shared by threads: a sleep moves the clock to at least (its start + s), so two threads that
sleep at the same moment for the same time end at the same moment, as they would really.
"""

import threading


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self._lock = threading.Lock()
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now = max(self.now, self.now + seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class ManualClock:
    """A clock whose sleepers really block until the test moves time past their wake-up.

    Lets a test hold threads inside their waits, look at what has (not) been sent meanwhile,
    then let them go: `wait_for_sleepers(n)`, assert, `advance(s)`.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self._changed = threading.Condition()
        self.now = start
        self.sleeping = 0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._changed:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._changed:
            self.sleeps.append(seconds)
            wake = self.now + seconds
            self.sleeping += 1
            self._changed.notify_all()
            if not self._changed.wait_for(lambda: self.now >= wake, timeout=10):
                raise AssertionError("a sleeper was never woken: advance the clock")
            self.sleeping -= 1
            self._changed.notify_all()

    def wait_for_sleepers(self, count: int, timeout: float = 10) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.sleeping >= count, timeout=timeout):
                raise AssertionError(f"{self.sleeping} threads asleep, expected {count}")

    def advance(self, seconds: float) -> None:
        with self._changed:
            self.now += seconds
            self._changed.notify_all()
