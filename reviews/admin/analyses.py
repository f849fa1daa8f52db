"""The review list and the analysis page: the facts and the actions first, then the
findings, then the comment as it will be posted; and the overview page."""

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from reviews import audit, dispatch, presentation, selectors
from reviews.admin.budgets import budget_rows
from reviews.admin.common import (
    NONE,
    RAW_OUTPUT_PERMISSION,
    RERUN_PERMISSION,
    SEVERITY_COLORS,
    CategoryFilter,
    PostingFilter,
    SeverityFilter,
    comment_preview,
    findings_by_file,
    safe_url,
)
from reviews.admin.overview import overview_context
from reviews.models import Analysis
from reviews.pipeline import publish


@admin.register(Analysis)
class AnalysisAdmin(admin.ModelAdmin):
    # Fits 1440 px beside the filters: what state each review is in and why, then what it found
    # and what it cost. The model and the tokens are on the analysis page.
    list_display = [
        "status_column",
        "pull_request",
        "head",
        "severities_column",
        "cost_column",
        "duration",
        "age",
    ]
    list_display_links = ["pull_request"]
    list_filter = [
        "status",
        PostingFilter,
        "repo_full_name",
        CategoryFilter,
        SeverityFilter,
        "llm_model",
        "created_at",
    ]
    search_fields = ["repo_full_name", "pr_title", "delivery_id", "head_sha"]
    search_help_text = "Repository, PR number (7 or #7), title, delivery id or head SHA."
    date_hierarchy = "created_at"
    list_per_page = 50
    actions = ["rerun_selected", "repost_selected"]
    readonly_fields = ["cost_column", "duration"]
    change_form_template = "admin/reviews/analysis/change_form.html"
    change_list_template = "admin/reviews/analysis/change_list.html"
    fieldsets = [
        (
            "Pull request",
            {"classes": ["collapse"], "fields": list(Analysis.PULL_REQUEST_FIELDS)},
        ),
        (
            "Review",
            {
                "classes": ["collapse"],
                "fields": [
                    "status",
                    "error",
                    "attempts",
                    "rerun_of",
                    "llm_model",
                    "prompt_tokens",
                    "completion_tokens",
                    "cost_column",
                    "cost_estimate",
                    "check_run_id",
                    "duration",
                    # The blob of the .github/prism.yml the review followed ("": none).
                    "policy_sha",
                ],
            },
        ),
        (
            "Comment",
            {
                "classes": ["collapse"],
                "fields": ["comment_url", "comment_posted_at", "comment_error"],
            },
        ),
        (
            "Delivery and timing",
            {
                "classes": ["collapse"],
                "fields": [
                    "delivery_id",
                    "event",
                    "action",
                    "created_at",
                    "dispatched_at",
                    "started_at",
                    "finished_at",
                    "lease_expires_at",
                ],
            },
        ),
    ]

    # Reviews are written by the pipeline only; the admin reads them and triggers actions.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Analysis | None = None) -> bool:
        return False

    @admin.display(description="status", ordering="status")
    def status_column(self, analysis: Analysis) -> str:
        """The status, why (failed, skipped, superseded, waiting to retry), and a mark when a
        completed review failed to post some part."""
        tone = {"failed": "prism-bad", "completed": "prism-good"}.get(analysis.status, "")
        failed_parts = [part.name for part in presentation.posting(analysis) if part.ok is False]
        posting = (
            format_html(
                '<br><span class="prism-bad" title="{}">⚠ {} not posted</span>',
                analysis.comment_error,
                ", ".join(failed_parts),
            )
            if failed_parts
            else ""
        )
        reason = presentation.short_reason(analysis, 48)
        return format_html(
            '<strong class="{}">{}</strong>{}{}',
            tone,
            analysis.get_status_display(),
            format_html(
                '<br><small class="prism-muted" title="{}">{}</small>', analysis.error, reason
            )
            if reason
            else "",
            posting,
        )

    @admin.display(description="pull request", ordering="repo_full_name")
    def pull_request(self, analysis: Analysis) -> str:
        return format_html(
            '{}#{}<br><small class="prism-muted">{}</small>',
            analysis.repo_full_name,
            analysis.pr_number,
            analysis.pr_title[:60],
        )

    @admin.display(description="head")
    def head(self, analysis: Analysis) -> str:
        return format_html("<code>{}</code>", analysis.head_sha[:8])

    @admin.display(description="findings")
    def severities_column(self, analysis: Analysis) -> str:
        if analysis.status != Analysis.Status.COMPLETED:
            return NONE
        summary = selectors.finding_summary(analysis.result)
        if not summary.total:
            return "none"
        return format_html_join(
            " ",
            '<span class="prism-sev prism-sev-{}">{}&nbsp;{}</span>',
            ((name, count, name) for name, count in summary.by_severity.items()),
        )

    @admin.display(description="age", ordering="created_at")
    def age(self, analysis: Analysis) -> str:
        return format_html(
            '<span class="prism-nowrap" title="{}">{}</span>',
            analysis.created_at.isoformat(timespec="seconds"),
            presentation.age(analysis.created_at),
        )

    @admin.display(description="findings")
    def findings_column(self, analysis: Analysis) -> str:
        summary = selectors.finding_summary(analysis.result)
        if not summary.total:
            return NONE
        return ", ".join(f"{count} {name}" for name, count in summary.by_category.items())

    @admin.display(description="top severity")
    def top_severity(self, analysis: Analysis) -> str:
        severity = selectors.finding_summary(analysis.result).top_severity
        if severity is None:
            return NONE
        return format_html(
            '<strong style="color: {}">{}</strong>', SEVERITY_COLORS[severity], severity
        )

    @admin.display(description="tokens")
    def tokens(self, analysis: Analysis) -> str:
        total = analysis.prompt_tokens + analysis.completion_tokens
        return f"{total:,}" if total else NONE

    @admin.display(description="cost", ordering="cost")
    def cost_column(self, analysis: Analysis) -> str:
        return presentation.money(analysis.cost)

    @admin.display(description="duration")
    def duration(self, analysis: Analysis) -> str:
        return presentation.human_duration(selectors.analysis_duration(analysis))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # A PR number is matched exactly: "7" should not also find #17 and #70.
        number = search_term.strip().lstrip("#")
        if number.isdigit():
            results |= queryset.filter(Q(pr_number=int(number)))
        return results, may_have_duplicates

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        analysis = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if analysis is not None:
            context.update(self.review_context(request, analysis))
        return super().change_view(request, object_id, form_url, extra_context=context)

    def review_context(self, request: HttpRequest, analysis: Analysis) -> dict[str, Any]:
        result = analysis.result
        try:
            preview = comment_preview(analysis)
            preview_error = ""
        except Exception as exc:  # a preview must never take the page down with it
            preview, preview_error = None, f"{type(exc).__name__}: {exc}"
        ledger = list(analysis.reported_findings.order_by("path", "line", "id"))
        summary = selectors.finding_summary(result)
        posting = presentation.posting(analysis)
        return {
            "analysis": analysis,
            "summary": summary,
            "severity_counts": [
                (name, count, SEVERITY_COLORS[name]) for name, count in summary.by_severity.items()
            ],
            "review_summary": result.summary,
            "review_parts": result.summary.count("\n\nPart ") + 1 if result.summary else 0,
            "files": findings_by_file(analysis, ledger),
            "outside_diff": sum(1 for f in result.findings if not f.anchored),
            "not_reviewed": presentation.not_reviewed(analysis),
            "coverage_line": presentation.coverage_line(result.coverage)
            if result.coverage.files_total
            else "",
            "cost": presentation.money(analysis.cost),
            "models_line": presentation.models_line(result.chunks),
            "usage_by_model": presentation.usage_by_model(result.usage),
            # What the budgets reserved before the first model call (reviews/budgets.py).
            "cost_estimate": presentation.money(analysis.cost_estimate)
            if analysis.cost_estimate is not None
            else "",
            "tokens": presentation.tokens(analysis.prompt_tokens + analysis.completion_tokens),
            "human_duration": presentation.human_duration(selectors.analysis_duration(analysis)),
            "posting": posting,
            "posting_failed": any(part.ok is False for part in posting),
            "can_act": self.has_rerun_permission(request),
            "can_repost": self.has_rerun_permission(request)
            and analysis.status == Analysis.Status.COMPLETED
            and analysis.publish,
            "audit": audit.entries(analysis),
            "coverage": result.coverage,
            "skipped": result.coverage.skipped,
            "timings": [
                (step, presentation.human_duration(seconds))
                for step, seconds in sorted(result.timings.items())
            ],
            "duration": selectors.analysis_duration(analysis),
            "preview": preview,
            "preview_error": preview_error,
            "feedback_json": json.dumps(analysis.feedback, indent=2, sort_keys=True),
            "pr_link": safe_url(analysis.pr_url),
            "show_raw_output": request.user.has_perm(RAW_OUTPUT_PERMISSION),
            # The ledger's view: every finding this review reported, with its state now.
            "ledger": ledger,
        }

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RERUN_PERMISSION)

    @admin.action(description="Re-run review", permissions=["rerun"])
    def rerun_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        reruns = []
        for analysis in queryset.order_by("id"):
            rerun = dispatch.queue_rerun(analysis)
            audit.record(request.user, analysis, f"Re-ran the review from the admin: #{rerun.id}.")
            reruns.append(rerun)
        ids = ", ".join(f"#{rerun.id}" for rerun in reruns)
        self.message_user(
            request, f"Queued {len(reruns)} re-run(s): {ids}.", level=messages.SUCCESS
        )

    @admin.action(description="Re-post comment", permissions=["rerun"])
    def repost_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        posted, failed = 0, []
        for analysis in queryset.order_by("id"):
            if analysis.status != Analysis.Status.COMPLETED:
                failed.append(f"#{analysis.id} is {analysis.status}, not completed")
                continue
            try:
                ok = publish.repost_comment(analysis.id)
            except Exception as exc:  # one failure must not hide the others' outcome
                ok, reason = False, f"{type(exc).__name__}: {exc}"
            else:
                analysis.refresh_from_db(fields=["comment_error"])
                reason = analysis.comment_error or "nothing was posted"
            audit.record(
                request.user,
                analysis,
                "Re-posted the comment from the admin"
                + ("." if ok else f"; it failed: {reason}"[:400]),
            )
            if ok:
                posted += 1
            else:
                failed.append(f"#{analysis.id}: {reason}")
        if posted:
            self.message_user(request, f"Re-posted {posted} comment(s).", level=messages.SUCCESS)
        if failed:
            self.message_user(request, f"Not re-posted: {'; '.join(failed)}", level=messages.ERROR)

    def get_urls(self) -> list[URLPattern]:
        overview = path(
            "overview/",
            self.admin_site.admin_view(self.overview_view),
            name="reviews_analysis_overview",
        )
        rerun = path(
            "<int:object_id>/rerun/",
            self.admin_site.admin_view(self.rerun_view),
            name="reviews_analysis_rerun",
        )
        repost = path(
            "<int:object_id>/repost/",
            self.admin_site.admin_view(self.repost_view),
            name="reviews_analysis_repost",
        )
        budgets = path(
            "budgets/",
            self.admin_site.admin_view(self.budgets_view),
            name="reviews_analysis_budgets",
        )
        return [overview, budgets, rerun, repost, *super().get_urls()]

    def _acted_on(self, request: HttpRequest, object_id: int) -> Analysis:
        if request.method != "POST":
            raise PermissionDenied("POST only")
        if not self.has_rerun_permission(request):
            raise PermissionDenied
        return get_object_or_404(Analysis, pk=object_id)

    def rerun_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The page's re-run button: one analysis, POST with CSRF, recorded in the log."""
        analysis = self._acted_on(request, object_id)
        self.rerun_selected(request, Analysis.objects.filter(pk=analysis.pk))
        return HttpResponseRedirect(reverse("admin:reviews_analysis_change", args=[analysis.pk]))

    def repost_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The page's re-post button: one analysis, POST with CSRF, recorded in the log."""
        analysis = self._acted_on(request, object_id)
        self.repost_selected(request, Analysis.objects.filter(pk=analysis.pk))
        return HttpResponseRedirect(reverse("admin:reviews_analysis_change", args=[analysis.pk]))

    def budgets_view(self, request: HttpRequest) -> HttpResponse:
        """Spend against each money cap (reviews/admin/budgets.py)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Budgets",
            "rows": budget_rows(),
        }
        return TemplateResponse(request, "admin/reviews/analysis/budgets.html", context)

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Review overview, last 30 days",
            **overview_context(days=30),
        }
        return TemplateResponse(request, "admin/reviews/analysis/overview.html", context)
