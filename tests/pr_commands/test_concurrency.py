"""Commands under real concurrency, which only PostgreSQL shows faithfully: one comment
delivered many times at once is one command, and the cap holds when commands race."""

import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client

from reviews.commands import services as command_services
from reviews.github import signatures
from reviews.models import Command
from tests.pr_commands.payloads import as_bytes, issue_comment

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def at_once(work: Callable[[int], Any], count: int) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            results.append(work(n))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_twenty_simultaneous_deliveries_of_one_comment_make_one_command():
    body = as_bytes(issue_comment("@prism review"))

    def deliver(n: int) -> int:
        response = Client().post(
            "/webhooks/github/",
            data=body,
            content_type="application/json",
            HTTP_X_GITHUB_EVENT="issue_comment",
            HTTP_X_GITHUB_DELIVERY=f"storm-{n % 2}",  # redeliveries and replays together
            HTTP_X_HUB_SIGNATURE_256=signatures.sign("test-webhook-secret", body),
        )
        return response.status_code

    with mock.patch("reviews.tasks.run_command.apply_async") as send:
        codes = at_once(deliver, 20)

    command = Command.objects.get()
    assert sorted(codes) == [200] * 19 + [202]
    send.assert_called_once_with((command.id,))


def test_racing_commands_never_pass_the_cap(record_command, settings):
    settings.MANUAL_RUNS_PER_PR = 3
    commands = [record_command("@prism review") for _ in range(10)]

    granted = at_once(lambda n: command_services.command_count_run(command=commands[n]), 10)

    assert granted.count(True) == 3
    assert Command.objects.filter(counted=True).count() == 3
