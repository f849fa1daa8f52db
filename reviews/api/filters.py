"""Query-string filters of `GET /api/analyses/` and `GET /api/findings/`; a bad value answers
400 naming the parameter."""

from datetime import UTC, date, datetime

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_filters import rest_framework as filters

from reviews import results, selectors
from reviews.models import Analysis, Command, Finding

BAD_DATE = (
    "Enter an ISO 8601 date or date-time, e.g. 2025-01-31, 2025-01-31T12:00:00 or "
    "2025-01-31T12:00:00+02:00 (no offset means UTC)."
)


class InstantField(forms.DateTimeField):
    """A date-time that exists in UTC: `9999-12-31T23:59:59-23:59` is past year 9999 there,
    which no database can compare with."""

    def to_python(self, value: str | datetime | date | None) -> datetime | None:
        result = super().to_python(value)
        if result is not None:
            try:
                result.astimezone(UTC)
            except OverflowError as exc:
                raise ValidationError(
                    "This date-time is outside the years 1 to 9999 in UTC.", code="invalid"
                ) from exc
        return result


class InstantFilter(filters.DateTimeFilter):
    field_class = InstantField


class AnalysisFilter(filters.FilterSet):
    repo_full_name = filters.CharFilter(help_text="Repository as owner/name, exactly.")
    # Bounded like the column (a 32-bit integer on PostgreSQL), so a huge number is a 400.
    pr_number = filters.NumberFilter(
        min_value=1, max_value=2**31 - 1, help_text="Pull request number."
    )
    status = filters.ChoiceFilter(choices=Analysis.Status.choices, help_text="Review status.")
    # Django's DateTimeField accepts both a bare date (midnight) and an ISO date-time.
    created_after = InstantFilter(
        field_name="created_at",
        lookup_expr="gte",
        error_messages={"invalid": BAD_DATE},
        help_text="Created at or after this date or date-time.",
    )
    created_before = InstantFilter(
        field_name="created_at",
        lookup_expr="lt",
        error_messages={"invalid": BAD_DATE},
        help_text="Created before this date or date-time (a date means its midnight).",
    )
    min_severity = filters.ChoiceFilter(
        choices=[(s, s) for s in results.SEVERITIES],
        method="filter_min_severity",
        help_text="Only analyses with a finding of this severity or higher.",
    )

    class Meta:
        model = Analysis
        fields = [
            "repo_full_name",
            "pr_number",
            "status",
            "created_after",
            "created_before",
            "min_severity",
        ]

    def filter_min_severity(
        self, queryset: QuerySet[Analysis], name: str, value: str
    ) -> QuerySet[Analysis]:
        return selectors.analyses_reporting(
            queryset, severity__in=results.severities_at_least(value)
        )


SEVERITY_CHOICES = [(s, s) for s in results.SEVERITIES]
# Bounded like the columns (32-bit integers on PostgreSQL), so a huge number is a 400.
MAX_INT = 2**31 - 1


class IntegerFilter(filters.Filter):
    """A whole number: `1.5` is a 400, not silently 1."""

    field_class = forms.IntegerField


class FindingFilter(filters.FilterSet):
    repo = filters.CharFilter(field_name="repo_full_name", help_text="Repository as owner/name.")
    pr_number = IntegerFilter(min_value=1, max_value=MAX_INT, help_text="Pull request number.")
    state = filters.ChoiceFilter(choices=Finding.State.choices, help_text="Lifecycle state.")
    severity = filters.ChoiceFilter(choices=SEVERITY_CHOICES, help_text="Exactly this severity.")
    min_severity = filters.ChoiceFilter(
        choices=SEVERITY_CHOICES,
        field_name="severity",
        method="filter_min_severity",
        help_text="This severity or higher.",
    )
    category = filters.ChoiceFilter(
        choices=[(c, c) for c in results.CATEGORIES], help_text="Finding category."
    )
    path = filters.CharFilter(help_text="File path in the repository, exactly.")
    analysis = IntegerFilter(
        field_name="analyses",
        min_value=1,
        max_value=2**63 - 1,
        help_text="Only findings this analysis reported (raised, or carried forward).",
    )

    class Meta:
        model = Finding
        fields = [
            "repo",
            "pr_number",
            "state",
            "severity",
            "min_severity",
            "category",
            "path",
            "analysis",
        ]

    def filter_min_severity(
        self, queryset: QuerySet[Finding], name: str, value: str
    ) -> QuerySet[Finding]:
        return queryset.filter(severity__in=results.severities_at_least(value))


class CommandFilter(filters.FilterSet):
    repo = filters.CharFilter(field_name="repo_full_name", help_text="Repository as owner/name.")
    pr_number = IntegerFilter(min_value=1, max_value=MAX_INT, help_text="Pull request number.")
    verb = filters.ChoiceFilter(choices=Command.Verb.choices, help_text="The command.")
    status = filters.ChoiceFilter(choices=Command.Status.choices, help_text="What came of it.")
    author = filters.CharFilter(help_text="The commenter's GitHub login, exactly.")
    created_after = InstantFilter(
        field_name="created_at",
        lookup_expr="gte",
        error_messages={"invalid": BAD_DATE},
        help_text="Created at or after this date or date-time.",
    )
    created_before = InstantFilter(
        field_name="created_at",
        lookup_expr="lt",
        error_messages={"invalid": BAD_DATE},
        help_text="Created before this date or date-time (a date means its midnight).",
    )

    class Meta:
        model = Command
        fields = [
            "repo",
            "pr_number",
            "verb",
            "status",
            "author",
            "created_after",
            "created_before",
        ]
