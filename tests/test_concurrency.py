"""Exactly-once under real concurrency, which only PostgreSQL shows faithfully."""

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from reviews.github import signatures
from reviews.models import Analysis
from tests.fixtures import payload_bytes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def deliver_at_once(body: bytes, delivery_ids: list[str]) -> list[tuple[int, dict]]:
    """POST `body` once per delivery id, all threads released together."""
    barrier = threading.Barrier(len(delivery_ids))
    answers: list[tuple[int, dict]] = []

    def post(delivery_id: str) -> None:
        headers: dict[str, Any] = {
            "HTTP_X_GITHUB_EVENT": "pull_request",
            "HTTP_X_GITHUB_DELIVERY": delivery_id,
            "HTTP_X_HUB_SIGNATURE_256": signatures.sign("test-webhook-secret", body),
        }
        try:
            barrier.wait()
            response = Client().post(
                "/webhooks/github/", data=body, content_type="application/json", **headers
            )
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(d,)) for d in delivery_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_twenty_simultaneous_copies_of_one_delivery_make_one_analysis(broker):
    copies = 20
    answers = deliver_at_once(payload_bytes("pull_request.opened.json"), ["storm-1"] * copies)

    analysis = Analysis.objects.get()
    assert sorted(code for code, _ in answers) == [200] * (copies - 1) + [202]
    assert {answer["analysis_id"] for _, answer in answers} == {analysis.id}
    assert [a["status"] for _, a in answers].count("duplicate") == copies - 1
    broker.assert_called_once_with((analysis.id,))


def test_twenty_replays_under_fresh_ids_at_once_queue_one_review(broker):
    copies = 20
    answers = deliver_at_once(
        payload_bytes("pull_request.opened.json"), [f"replay-{n}" for n in range(copies)]
    )

    [queued] = Analysis.objects.filter(status="queued")
    assert sorted(code for code, _ in answers) == [200] * (copies - 1) + [202]
    assert {answer["analysis_id"] for _, answer in answers} == {queued.id}
    assert Analysis.objects.filter(status="skipped").count() == copies - 1
    broker.assert_called_once_with((queued.id,))
