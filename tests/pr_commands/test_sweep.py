"""A command the broker lost is dispatched again by the sweep, within the hour."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from reviews import dispatch
from reviews.commands import services as command_services
from reviews.models import Command

pytestmark = pytest.mark.django_db


def test_the_sweep_dispatches_commands_left_queued_but_not_fresh_or_old_ones(
    record_command, broker
):
    now = timezone.now()
    lost = record_command("@prism review")
    fresh = record_command("@prism help")
    stale = record_command("@prism pause")
    Command.objects.filter(id=lost.id).update(created_at=now - timedelta(minutes=5))
    Command.objects.filter(id=stale.id).update(created_at=now - timedelta(hours=2))

    assert command_services.commands_needing_dispatch() == [lost.id]
    with mock.patch("reviews.tasks.run_command.apply_async") as send:
        dispatch.sweep()

    send.assert_called_once_with((lost.id,))
    assert fresh.id != lost.id


def test_a_command_the_broker_refuses_does_not_fail_the_webhook(record_command):
    command = record_command("@prism review")
    with mock.patch("reviews.tasks.run_command.apply_async", side_effect=OSError("down")):
        assert dispatch.dispatch_command(command.id) is False
    assert Command.objects.get(id=command.id).status == "queued"


def test_a_command_a_dead_worker_left_running_is_taken_over_after_a_lease(record_command, settings):
    command = record_command("@prism review")
    assert command_services.command_claim(command_id=command.id)
    assert not command_services.command_claim(command_id=command.id)  # held, not stale
    assert command_services.commands_needing_dispatch() == []

    past = timezone.now() - timedelta(seconds=settings.REVIEW_LEASE_SECONDS + 5)
    Command.objects.filter(id=command.id).update(started_at=past)

    assert command_services.commands_needing_dispatch() == [command.id]
    assert command_services.command_claim(command_id=command.id)
    assert Command.objects.get(id=command.id).attempts == 2


def test_a_command_that_keeps_killing_its_worker_is_not_taken_forever(record_command, settings):
    settings.REVIEW_MAX_ATTEMPTS = 1
    command = record_command("@prism review")
    assert command_services.command_claim(command_id=command.id)
    past = timezone.now() - timedelta(seconds=settings.REVIEW_LEASE_SECONDS + 5)
    Command.objects.filter(id=command.id).update(started_at=past)

    assert not command_services.command_claim(command_id=command.id)
    assert command_services.commands_needing_dispatch() == []
    with mock.patch("reviews.tasks.run_command.apply_async") as send:
        dispatch.sweep()
    send.assert_not_called()
    failed = Command.objects.get(id=command.id)
    assert (failed.status, failed.error) == (
        "failed",
        "Interrupted 1 times (its worker stopped or was killed); giving up.",
    )
