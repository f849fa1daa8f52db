"""How an analysis looks in the API: a compact row in lists, everything but secrets in detail."""

from dataclasses import asdict
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import selectors
from .models import Analysis


class FindingCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_category = serializers.DictField(child=serializers.IntegerField())
    by_severity = serializers.DictField(child=serializers.IntegerField())
    top_severity = serializers.ChoiceField(choices=selectors.SEVERITIES, allow_null=True)


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
        return asdict(selectors.finding_summary(analysis.feedback))


def _feedback_part(name: str, kind: type) -> Any:
    """A part of the stored feedback, or an empty one: failed reviews have none."""

    def get(self: serializers.Serializer, analysis: Analysis) -> Any:
        value = analysis.feedback.get(name) if isinstance(analysis.feedback, dict) else None
        return value if isinstance(value, kind) else kind()

    return get


class AnalysisDetailSerializer(AnalysisListSerializer):
    summary = serializers.SerializerMethodField()
    findings = serializers.SerializerMethodField()
    coverage = serializers.SerializerMethodField()
    usage = serializers.SerializerMethodField()
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
            "timings",
            "error",
            "attempts",
            "llm_model",
            "prompt_tokens",
            "completion_tokens",
            "cost",
            "started_at",
            "duration_seconds",
            "comment_url",
            "comment_posted_at",
            "comment_error",
        ]
        read_only_fields = fields

    get_summary = extend_schema_field(OpenApiTypes.STR)(_feedback_part("summary", str))
    get_findings = extend_schema_field(
        {"type": "array", "items": {"type": "object", "additionalProperties": True}}
    )(_feedback_part("findings", list))
    get_coverage = extend_schema_field(OpenApiTypes.OBJECT)(_feedback_part("coverage", dict))
    get_usage = extend_schema_field(OpenApiTypes.OBJECT)(_feedback_part("usage", dict))
    get_timings = extend_schema_field(
        {"type": "object", "additionalProperties": {"type": "number"}}
    )(_feedback_part("timings", dict))

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_duration_seconds(self, analysis: Analysis) -> float | None:
        duration = selectors.analysis_duration(analysis)
        return round(duration.total_seconds(), 3) if duration is not None else None


class StaffAnalysisDetailSerializer(AnalysisDetailSerializer):
    """Staff also see the model's raw answer of a failed review: it may quote the diff."""

    class Meta(AnalysisDetailSerializer.Meta):
        fields = [*AnalysisDetailSerializer.Meta.fields, "raw_output"]
        read_only_fields = fields
