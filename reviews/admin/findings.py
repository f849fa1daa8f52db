"""The findings ledger in the admin: read-only, filterable, each finding with its state."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from reviews.admin.common import NONE, SEVERITY_COLORS
from reviews.models import Analysis
from reviews.models import Finding as LedgerFinding


class ModelFilter(admin.SimpleListFilter):
    """The LLM model of the review that first raised the finding."""

    title = "model"
    parameter_name = "model"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        models = (
            LedgerFinding.objects.order_by("analysis__llm_model")
            .values_list("analysis__llm_model", flat=True)
            .distinct()
        )
        return [(name, name) for name in models if name]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        value = self.value()
        return queryset.filter(analysis__llm_model=value) if value else None


@admin.register(LedgerFinding)
class FindingAdmin(admin.ModelAdmin):
    """The findings ledger, read-only: the pipeline writes it, people read it."""

    list_display = [
        "id",
        "repo_full_name",
        "pull_request",
        "state",
        "severity_column",
        "category",
        "title",
        "where",
        "llm_model",
        "last_seen",
        "updated_at",
    ]
    list_display_links = ["id", "title"]
    list_filter = ["repo_full_name", "state", "severity", "category", ModelFilter]
    search_fields = ["repo_full_name", "title", "path", "fingerprint"]
    list_select_related = ["analysis"]
    list_per_page = 50
    readonly_fields = ["raised_by", "reported_by"]
    fieldsets = [
        ("Pull request", {"fields": ["repo_full_name", "pr_number", "fingerprint"]}),
        (
            "LedgerFinding",
            {
                "fields": [
                    "state",
                    "severity",
                    "category",
                    "title",
                    "body",
                    "suggestion",
                    "path",
                    "line",
                    "end_line",
                    "anchored",
                    "anchor_text",
                ]
            },
        ),
        (
            "History",
            {
                "fields": [
                    "raised_by",
                    "reported_by",
                    "first_seen_sha",
                    "last_seen_sha",
                    "review_comment_id",
                    "thread_node_id",
                    "dismissed_by",
                    "dismiss_reason",
                    "dismissed_at",
                    "thumbs_up",
                    "thumbs_down",
                    "reactions_read_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: LedgerFinding | None = None) -> bool:
        return False

    @admin.display(description="PR", ordering="pr_number")
    def pull_request(self, finding: LedgerFinding) -> str:
        return f"#{finding.pr_number}"

    @admin.display(description="severity", ordering="severity")
    def severity_column(self, finding: LedgerFinding) -> str:
        return format_html(
            '<strong style="color: {}">{}</strong>',
            SEVERITY_COLORS.get(finding.severity, "#4b5563"),
            finding.severity,
        )

    @admin.display(description="where", ordering="path")
    def where(self, finding: LedgerFinding) -> str:
        return f"{finding.path}:{finding.line}" if finding.line else finding.path

    @admin.display(description="model", ordering="analysis__llm_model")
    def llm_model(self, finding: LedgerFinding) -> str:
        return finding.analysis.llm_model or NONE

    @admin.display(description="last seen at", ordering="last_seen_sha")
    def last_seen(self, finding: LedgerFinding) -> str:
        return finding.last_seen_sha[:12]

    @admin.display(description="raised by")
    def raised_by(self, finding: LedgerFinding) -> str:
        return _analysis_link(finding.analysis)

    @admin.display(description="reported by")
    def reported_by(self, finding: LedgerFinding) -> str:
        links = [_analysis_link(a) for a in finding.analyses.order_by("id")]
        return format_html_join(", ", "{}", ((link,) for link in links)) if links else NONE


def _analysis_link(analysis: Analysis) -> str:
    url = reverse("admin:reviews_analysis_change", args=[analysis.id])
    return format_html('<a href="{}">#{} @ {}</a>', url, analysis.id, analysis.head_sha[:8])
