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


def test_twenty_simultaneous_copies_of_one_delivery_make_one_analysis(broker):
    body = payload_bytes("pull_request.opened.json")
    headers: dict[str, Any] = {
        "HTTP_X_GITHUB_EVENT": "pull_request",
        "HTTP_X_GITHUB_DELIVERY": "storm-1",
        "HTTP_X_HUB_SIGNATURE_256": signatures.sign("test-webhook-secret", body),
    }
    copies = 20
    barrier = threading.Barrier(copies)
    answers: list[tuple[int, dict]] = []

    def post():
        try:
            barrier.wait()
            response = Client().post(
                "/webhooks/github/", data=body, content_type="application/json", **headers
            )
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    analysis = Analysis.objects.get()
    assert sorted(code for code, _ in answers) == [200] * (copies - 1) + [202]
    assert {answer["analysis_id"] for _, answer in answers} == {analysis.id}
    assert [a["status"] for _, a in answers].count("duplicate") == copies - 1
    broker.assert_called_once_with((analysis.id,))
