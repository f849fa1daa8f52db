"""Who did what to an analysis, and when: Django's admin log (LogEntry), written by the admin's
actions and buttons and by the API's re-run, and listed on the analysis page."""

from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType

from reviews.models import Analysis


def record(user: Any, analysis: Analysis, message: str) -> None:
    if not getattr(user, "pk", None):
        return
    LogEntry.objects.log_actions(
        user_id=user.pk,
        queryset=[analysis],
        action_flag=CHANGE,
        change_message=message,
        single_object=True,
    )


def entries(analysis: Analysis, limit: int = 20) -> list[LogEntry]:
    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Analysis),
            object_id=str(analysis.pk),
        )
        .select_related("user")
        .order_by("-action_time")[:limit]
    )
