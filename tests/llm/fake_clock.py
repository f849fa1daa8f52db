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
