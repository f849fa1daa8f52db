"""kombu's Redis transport, reusing one Redis client per channel.

kombu builds a new redis-py client for every message it publishes (`conn_or_acquire`), and
redis-py fills a dict of ~170 response callbacks for each one: about a quarter of the
webhook's publishing time. The clients share one connection pool either way.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    @cached_property
    def _shared_client(self) -> Any:
        # kombu's own (private) factory, which celery-types' stubs leave out.
        return self._create_client()  # type: ignore[attr-defined]

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        yield client or self._shared_client


class Transport(redis.Transport):
    Channel = Channel
