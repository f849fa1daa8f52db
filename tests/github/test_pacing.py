"""Pacing GitHub writes per identity (reviews/github/pacing.py): the windows on a fake clock,
shared by two pacers ("processes") on one Redis, and this process's own windows without it."""

import uuid

import pytest
import redis
from django.conf import settings

from reviews.github import pacing
from reviews.github.pacing import HOUR, MINUTE, Limits, Pacer
from tests.conftest import IN_CI

WHO = pacing.identity("https://api.github.test", "ghp_one")


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shared_redis():
    """The test run's Redis, under a prefix no other test or process uses; removed after."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    prefix = f"prism:test:pacing:{uuid.uuid4().hex}"
    yield client, prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def local(clock: Clock, **limits: float) -> Pacer:
    return Pacer(Limits(**limits), clock=clock)  # type: ignore[arg-type]


@pytest.fixture(params=["local", "redis"])
def make_pacers(request, clock):
    """Two pacers of one Redis (two worker processes), or one process's pacer twice."""
    if request.param == "local":

        def make_local(**limits: float) -> tuple[Pacer, Pacer]:
            pacer = local(clock, **limits)
            return pacer, pacer

        return make_local
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        if IN_CI:  # CI has Redis and never skips (tests/conftest.py)
            pytest.fail("the shared pacing tests need CELERY_BROKER_URL pointing at Redis")
        pytest.skip("needs CELERY_BROKER_URL pointing at redis")
    client, prefix = request.getfixturevalue("shared_redis")

    def make_shared(**limits: float) -> tuple[Pacer, Pacer]:
        def one() -> Pacer:
            return Pacer(Limits(**limits), redis=client, clock=clock, prefix=prefix)  # type: ignore[arg-type]

        return one(), one()

    return make_shared


def test_the_identity_is_a_hash_never_the_token():
    who = pacing.identity("https://api.github.com", "ghp_secret_token")
    assert "ghp_secret_token" not in who and len(who) == 24
    assert who != pacing.identity("https://api.github.com", "ghp_other_token")
    assert who != pacing.identity("https://ghe.example/api/v3", "ghp_secret_token")


def test_the_minute_window_holds_the_limit_and_frees_a_slot_as_the_oldest_ages_out(
    make_pacers, clock
):
    first, second = make_pacers(per_minute=3, per_hour=100, interval=0)
    granted = [p.reserve(WHO, max_wait=0) for p in (first, second, first)]
    assert [(s.granted, s.wait) for s in granted] == [(True, 0.0)] * 3

    clock.now += 10
    refused = second.reserve(WHO, max_wait=5)
    # Counted a second beyond GitHub's minute: free again 61 s after the first slot.
    assert (refused.granted, refused.wait) == (False, pytest.approx(MINUTE - 10))

    clock.now += MINUTE - 10  # all three were taken at once, and leave the window at once
    assert [p.reserve(WHO, max_wait=0).granted for p in (first, second, first, second)] == [
        True,
        True,
        True,
        False,
    ]


def test_a_slot_within_the_wait_offered_is_taken_for_later(make_pacers, clock):
    first, second = make_pacers(per_minute=2, per_hour=100, interval=0)
    first.reserve(WHO, max_wait=0)
    clock.now += 30
    second.reserve(WHO, max_wait=0)
    later = first.reserve(WHO, max_wait=MINUTE)
    assert later.granted and later.wait == pytest.approx(MINUTE - 30)
    # That slot counts: the next one is after the second one ages out, not before.
    assert second.reserve(WHO, max_wait=0).wait == pytest.approx(MINUTE)


def test_the_hour_window_holds_its_own_limit(make_pacers, clock):
    first, second = make_pacers(per_minute=100, per_hour=4, interval=0)
    for index in range(4):
        pacer = first if index % 2 else second
        assert pacer.reserve(WHO, max_wait=0).granted
        clock.now += 120
    refused = first.reserve(WHO, max_wait=60)
    assert not refused.granted
    assert refused.wait == pytest.approx(HOUR - 4 * 120)


def test_writes_are_spread_by_the_interval(make_pacers, clock):
    first, second = make_pacers(per_minute=80, per_hour=500, interval=0.75)
    waits = [p.reserve(WHO, max_wait=10).wait for p in (first, second, first, second)]
    assert waits == pytest.approx([0.0, 0.75, 1.5, 2.25])


def test_a_slot_may_be_taken_only_if_enough_of_the_minute_stays_free(make_pacers, clock):
    first, second = make_pacers(per_minute=4, per_hour=500, interval=0)
    assert first.reserve(WHO, max_wait=0, keep_free=2).granted
    assert second.reserve(WHO, max_wait=0, keep_free=2).granted
    assert not first.reserve(WHO, max_wait=0, keep_free=2).granted
    assert second.reserve(WHO, max_wait=0).granted  # a write that matters takes what is kept


def test_identities_are_paced_apart(make_pacers, clock):
    first, second = make_pacers(per_minute=1, per_hour=100, interval=0)
    other = pacing.identity("https://api.github.test", "ghs_installation_2")
    assert first.reserve(WHO, max_wait=0).granted
    assert second.reserve(other, max_wait=0).granted
    assert not second.reserve(WHO, max_wait=0).granted


def test_a_pause_holds_every_pacer_of_the_identity(make_pacers, clock):
    first, second = make_pacers(per_minute=80, per_hour=500, interval=0)
    first.pause(WHO, 120)
    held = second.reserve(WHO, max_wait=10)
    assert (held.granted, held.wait) == (False, pytest.approx(120))
    first.pause(WHO, 30)  # a shorter pause never shortens a longer one
    clock.now += 120
    assert second.reserve(WHO, max_wait=0).granted


def test_without_redis_each_process_paces_alone(clock):
    one, two = local(clock, per_minute=1, per_hour=10, interval=0), local(clock, per_minute=1)
    assert one.reserve(WHO, max_wait=0).granted
    assert two.reserve(WHO, max_wait=0).granted  # another process: its own windows
    assert not one.reserve(WHO, max_wait=0).granted


def test_a_redis_that_fails_falls_back_to_this_process(clock):
    broken = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    pacer = Pacer(Limits(per_minute=1, per_hour=10, interval=0), redis=broken, clock=clock)
    assert pacer.reserve(WHO, max_wait=0).granted
    assert not pacer.reserve(WHO, max_wait=0).granted
    pacer.pause(WHO, 5)  # no error either


def test_reads_wait_for_the_reset_when_the_primary_limit_runs_low(clock):
    pacer = local(clock)
    assert pacer.primary_wait(WHO, write=False) == 0
    pacer.observe(WHO, remaining=pacing.PRIMARY_RESERVE + 1, reset=clock.now + 600)
    assert pacer.primary_wait(WHO, write=False) == 0
    pacer.observe(WHO, remaining=pacing.PRIMARY_RESERVE, reset=clock.now + 600)
    assert pacer.primary_wait(WHO, write=False) == pytest.approx(600)
    # Writes finish reviews already paid for: they may use the reserve, not the last one.
    assert pacer.primary_wait(WHO, write=True) == 0
    pacer.observe(WHO, remaining=0, reset=clock.now + 600)
    assert pacer.primary_wait(WHO, write=True) == pytest.approx(600)
    clock.now += 601  # past the reset: the old count no longer says anything
    assert pacer.primary_wait(WHO, write=False) == 0
