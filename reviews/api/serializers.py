"""How an analysis looks in the API: a compact row in lists, everything but secrets in detail;
and a ledger finding."""

from dataclasses import asdict
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviews import results, selectors
from reviews.models import Analysis, Command, Finding
from reviews.results import ReviewResult


class FindingCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_category = serializers.DictField(child=serializers.IntegerField())
    by_severity = serializers.DictField(child=serializers.IntegerField())
    top_severity = serializers.ChoiceField(choices=results.SEVERITIES, allow_null=True)


class AnalysisListSerializer(serializers.ModelSerializer):
    counts = serializers.SerializerMethodField()

    class Meta:
        model = Analysis
        fields = [
            "id",
            "repo_full_name",
            "pr_number",
            "pr_title",
            "status",
            "head_sha",
            "counts",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(FindingCountsSerializer)
    def get_counts(self, analysis: Analysis) -> dict[str, Any]:
        return asdict(selectors.finding_summary(analysis.result))


def _stored(analysis: Analysis) -> ReviewResult | None:
    """The review's result; None for one that never completed (its parts show empty)."""
    return analysis.result if analysis.feedback else None


class AnalysisDetailSerializer(AnalysisListSerializer):
    summary = serializers.SerializerMethodField()
    findings = serializers.SerializerMethodField()
    coverage = serializers.SerializerMethodField()
    usage = serializers.SerializerMethodField()
    chunks = serializers.SerializerMethodField()
    timings = serializers.SerializerMethodField()
    duration_seconds = serializers.SerializerMethodField()

    class Meta(AnalysisListSerializer.Meta):
        fields = [
            *AnalysisListSerializer.Meta.fields,
            "delivery_id",
            "event",
            "action",
            "pr_url",
            "pr_author",
            "base_sha",
            "rerun_of",
            "summary",
            "findings",
            "coverage",
            "usage",
            "chunks",
            "timings",
            "error",
            "attempts",
            "llm_model",
            "prompt_tokens",
            "completion_tokens",
            "cost",
            # What the budgets estimated before the first model call (README "Budgets").
            "cost_estimate",
            "check_run_id",
            "started_at",
            "duration_seconds",
            "comment_url",
            "comment_posted_at",
            "comment_error",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_summary(self, analysis: Analysis) -> str:
        result = _stored(analysis)
        return result.summary if result else ""

    @extend_schema_field(
        {"type": "array", "items": {"type": "object", "additionalProperties": True}}
    )
    def get_findings(self, analysis: Analysis) -> list[dict[str, Any]]:
        result = _stored(analysis)
        return [finding.to_json() for finding in result.findings] if result else []

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_coverage(self, analysis: Analysis) -> dict[str, Any]:
        result = _stored(analysis)
        return result.coverage.to_json() if result else {}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_usage(self, analysis: Analysis) -> dict[str, Any]:
        result = _stored(analysis)
        return result.usage.to_json() if result else {}

    @extend_schema_field(
        {
            "type": "array",
            "description": "Which model answered each chunk (part) of the review, and whether "
            "it was a fallback model (LLM_FALLBACK_MODELS) after the ones in `tried`.",
            "items": {
                "type": "object",
                "properties": {
                    "part": {"type": "integer"},
                    "model": {"type": "string"},
                    "fallback": {"type": "boolean"},
                    "tried": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    )
    def get_chunks(self, analysis: Analysis) -> list[dict[str, Any]]:
        result = _stored(analysis)
        return [chunk.to_json() for chunk in result.chunks] if result else []

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "number"}})
    def get_timings(self, analysis: Analysis) -> dict[str, float]:
        result = _stored(analysis)
        return dict(result.timings) if result else {}

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_duration_seconds(self, analysis: Analysis) -> float | None:
        duration = selectors.analysis_duration(analysis)
        return round(duration.total_seconds(), 3) if duration is not None else None


class StaffAnalysisDetailSerializer(AnalysisDetailSerializer):
    """With `reviews.view_raw_output`, the model's raw answer of a failed review too: it may
    quote the diff, so it has a permission of its own."""

    class Meta(AnalysisDetailSerializer.Meta):
        fields = [*AnalysisDetailSerializer.Meta.fields, "raw_output"]
        read_only_fields = fields


class FindingSerializer(serializers.ModelSerializer):
    """A finding of the ledger: its identity on its pull request, where it is, and its state."""

    class Meta:
        model = Finding
        fields = [
            "id",
            "repo_full_name",
            "pr_number",
            "fingerprint",
            "state",
            "severity",
            "category",
            "path",
            "line",
            "end_line",
            "title",
            "body",
            "suggestion",
            "anchored",
            "analysis",
            "first_seen_sha",
            "last_seen_sha",
            "review_comment_id",
            "dismissed_by",
            "dismiss_reason",
            "dismissed_at",
            "thumbs_up",
            "thumbs_down",
            "reactions_read_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CommandSerializer(serializers.ModelSerializer):
    """A command someone wrote on a pull request (`@prism review`), and what came of it."""

    class Meta:
        model = Command
        fields = [
            "id",
            "repo_full_name",
            "pr_number",
            "pr_author",
            "source",
            "comment_id",
            "comment_url",
            "in_reply_to_id",
            "delivery_id",
            "author",
            "author_association",
            "verb",
            "arguments",
            "status",
            "outcome",
            "reply",
            "error",
            "analysis",
            "finding",
            "llm_model",
            "prompt_tokens",
            "completion_tokens",
            "cost",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class FeedbackRowSerializer(serializers.Serializer):
    """Findings of one category, severity or model, and what people made of them."""

    key = serializers.CharField(help_text='The category, severity or model ("" if none).')
    raised = serializers.IntegerField()
    dismissed = serializers.IntegerField()
    dismissal_rate = serializers.FloatField(
        allow_null=True, help_text="dismissed / raised; null when none was raised"
    )
    thumbs_up = serializers.IntegerField(help_text="👍 by people on the inline comments")
    thumbs_down = serializers.IntegerField(help_text="👎 by people on the inline comments")
    read = serializers.IntegerField(help_text="findings whose reactions were read (PR closed)")


class FeedbackFiguresSerializer(serializers.Serializer):
    since = serializers.DateField(help_text="The first day counted (UTC).")
    days = serializers.IntegerField()
    repo = serializers.CharField(help_text='One repository, or "" for all.')
    totals = FeedbackRowSerializer()
    by_category = FeedbackRowSerializer(many=True)
    by_severity = FeedbackRowSerializer(many=True)
    by_model = FeedbackRowSerializer(many=True)


class FeedbackQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1, max_value=366, default=30, help_text="The last N days (UTC), today included."
    )
    repo = serializers.RegexField(
        r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        max_length=200,
        required=False,
        default="",
        help_text="owner/name: one repository's findings only.",
    )
