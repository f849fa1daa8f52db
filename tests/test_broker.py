"""The webhook's hand-off to a real Redis broker (CI runs it; a laptop without Redis skips)."""

import base64
import json

import pytest
import redis

from reviews.dispatch import dispatch_review

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

QUEUE = "prism-test-dispatch"


@pytest.fixture
def queue(settings):
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(QUEUE)
    settings.CELERY_TASK_DEFAULT_QUEUE = QUEUE
    from prism.celery import app

    app.conf.task_default_queue = QUEUE
    yield client
    app.conf.task_default_queue = "celery"
    client.delete(QUEUE)


def test_a_dispatched_review_is_a_message_on_redis_naming_the_analysis(make_analysis, queue):
    analysis = make_analysis()

    assert dispatch_review(analysis.id)

    message = json.loads(queue.rpop(QUEUE))
    assert message["headers"]["task"] == "reviews.tasks.review_pull_request"
    args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert args == [analysis.id]


def forget_broker_connections(app) -> None:
    """What Celery itself does after a fork: the next publish connects anew, to the new URL."""
    app._pool = None
    app.amqp._producer_pool = None


def test_a_redis_that_refuses_connections_leaves_the_review_for_the_sweep(
    make_analysis, monkeypatch
):
    from prism.celery import app

    analysis = make_analysis()
    original = app.conf.broker_url
    nobody_listens = "redis://127.0.0.1:1/0"
    # Celery prefers the environment's CELERY_BROKER_URL to its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", nobody_listens)
    app.conf["broker_url"] = nobody_listens
    forget_broker_connections(app)
    try:
        with app.connection_for_write() as connection:
            assert connection.as_uri().endswith("127.0.0.1:1/0")
        assert not dispatch_review(analysis.id)
    finally:
        app.conf["broker_url"] = original
        monkeypatch.undo()
        forget_broker_connections(app)
    analysis.refresh_from_db()
    assert analysis.dispatched_at is None
