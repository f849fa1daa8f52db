"""The operator's view of reviews: browse, read findings, re-run, re-post, and an overview.

Findings, titles and the model's raw output are untrusted (a pull request can steer the
model): everything reaches the page through `format_html` or auto-escaped templates, and
the comment preview through an allowlist sanitizer.
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import nh3
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from knox.admin import AuthTokenAdmin as KnoxTokenAdmin
from knox.models import AuthToken
from markdown_it import MarkdownIt

from reviews import audit, dispatch, presentation, results, selectors
from reviews.comments import render
from reviews.github.resources import diff_line_url
from reviews.models import Analysis
from reviews.models import Finding as LedgerFinding
from reviews.pipeline import publish
from reviews.results import Finding

RERUN_PERMISSION = "reviews.rerun_analysis"
RAW_OUTPUT_PERMISSION = "reviews.view_raw_output"
NONE = "\N{EN DASH}"  # an empty cell, as Django's admin shows one
SEVERITY_COLORS = {"critical": "#7f1d1d", "high": "#b91c1c", "medium": "#b45309", "low": "#4b5563"}


# Branded as Prism; "View site" leads to the overview (Prism has no public site). The app
# sidebar is off: three models are a click away on the home page, and its 280 px are what
# the review list and the analysis page need at 1280 px.
admin.site.site_header = "Prism"
admin.site.site_title = "Prism"
admin.site.index_title = "Reviews, findings and API tokens"
admin.site.site_url = "/admin/reviews/analysis/overview/"
admin.site.enable_nav_sidebar = False
admin.site.index_template = "admin/reviews/index.html"  # leads with the overview


def safe_url(url: str) -> str | None:
    """A link target only if it is http(s): a `javascript:` URL would run on click."""
    return url if url.startswith(("https://", "http://")) else None


@dataclass(frozen=True)
class FindingRow:
    finding: Finding
    url: str | None  # the line in the pull request's diff; None off the diff
    color: str
    state: str = ""  # the ledger's state of it now, once the ledger knows it
    ledger_id: int | None = None


def findings_by_file(
    analysis: Analysis, ledger: list[LedgerFinding] | None = None
) -> list[tuple[str, list[FindingRow]]]:
    """Findings grouped by path, most severe first within each file, each with its diff link
    (only when anchored: a line outside the diff does not exist on GitHub's page) and its
    state in the findings ledger."""
    pr_url = safe_url(analysis.pr_url)
    known: dict[str, LedgerFinding] = {}
    for row in ledger or []:
        known.setdefault(row.fingerprint, row)
        known.setdefault(results.finding_fingerprint(row.path, row.category, row.title), row)
    groups: dict[str, list[FindingRow]] = defaultdict(list)
    for f in sorted(analysis.result.findings, key=lambda f: (-f.rank, f.line)):
        linked = pr_url and f.anchored and f.path and f.line > 0
        url = diff_line_url(pr_url, f.path, f.line) if linked and pr_url else None
        entry = known.get(f.fingerprint) or known.get(
            results.finding_fingerprint(f.path, f.category, f.title)
        )
        groups[f.path].append(
            FindingRow(
                f,
                url,
                SEVERITY_COLORS[f.severity],
                entry.state if entry else "",
                entry.id if entry else None,
            )
        )
    # The file with the most severe finding first: that is where a reader should start.
    return sorted(groups.items(), key=lambda group: (-group[1][0].finding.rank, group[0]))


_markdown = MarkdownIt("commonmark", {"html": True}).enable("table")
_PREVIEW_TAGS = {
    *("a", "b", "br", "code", "del", "details", "em", "h1", "h2", "h3", "h4", "h5", "h6"),
    *("hr", "li", "ol", "p", "pre", "strong", "sub", "summary", "sup", "ul"),
    *("table", "thead", "tbody", "tr", "th", "td", "blockquote"),
}


def comment_preview(analysis: Analysis) -> tuple[str, SafeString] | None:
    """The PR comment as it will be posted: its markdown, and that markdown as safe HTML.

    GitHub's comments mix markdown with a little HTML (<details>, <sub>), so the markdown is
    rendered with HTML on and then cleaned by an allowlist (nh3): what survives is plain
    formatting and http(s) links. None while the review has nothing to post.
    """
    if analysis.status != Analysis.Status.COMPLETED:
        return None
    markdown = render.render_review(analysis.result, publish.comment_context(analysis))
    html = nh3.clean(
        _markdown.render(markdown),
        tags=_PREVIEW_TAGS,
        attributes={"a": {"href", "title"}, "th": {"align"}, "td": {"align"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
    )
    # Safe to mark: nh3 has just removed every tag and attribute outside the allowlist.
    return markdown, mark_safe(html)  # noqa: S308


class CategoryFilter(admin.SimpleListFilter):
    title = "finding category"
    parameter_name = "category"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [(c, c) for c in results.CATEGORIES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        value = self.value()
        if value in results.CATEGORIES:
            return selectors.analyses_reporting(queryset, category=value)
        return None


class PostingFilter(admin.SimpleListFilter):
    title = "posting"
    parameter_name = "posting"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("failed", "a part failed to post")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        if self.value() == "failed":
            return presentation.posting_problems(queryset)
        return None


class SeverityFilter(admin.SimpleListFilter):
    title = "finding severity (at least)"
    parameter_name = "min_severity"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [(s, s) for s in reversed(results.SEVERITIES)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        value = self.value()
        if value in results.SEVERITIES:
            return selectors.analyses_reporting(
                queryset, severity__in=results.severities_at_least(value)
            )
        return None


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
        return [overview, rerun, repost, *super().get_urls()]

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

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        overview = selectors.analysis_overview(days=30)
        changelist = reverse("admin:reviews_analysis_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Review overview, last 30 days",
            "overview": overview,
            "totals": overview_row(overview.totals),
            "per_day": day_columns(overview.per_day, changelist),
            "days_table": [
                overview_row(row, link=f"{changelist}?{day_query(row['day'])}")
                for row in reversed(overview.per_day)
                if row["attempts"]
            ],
            "repositories": [
                overview_row(
                    row,
                    label=row["repo_full_name"],
                    link=f"{changelist}?{urlencode({'repo_full_name': row['repo_full_name']})}",
                )
                for row in overview.per_repository
            ],
            "models": [
                overview_row(
                    row,
                    label=row["model"] or "(none)",
                    link=f"{changelist}?{urlencode({'llm_model': row['model']})}",
                )
                for row in overview.per_model
            ],
            "categories": bar_rows(overview.by_category.items()),
            "severities": bar_rows(
                overview.by_severity.items(),
                link=lambda s: f"{changelist}?{urlencode({'min_severity': s})}",
            ),
            "changelist_url": changelist,
        }
        return TemplateResponse(request, "admin/reviews/analysis/overview.html", context)


def percent(rate: float | None) -> str:
    """ "50%", "4.2%"; a dash when nothing finished."""
    if rate is None:
        return NONE
    text = f"{rate:.1%}"
    return text.replace(".0%", "%")


def day_query(day: Any) -> str:
    return urlencode(
        {"created_at__year": day.year, "created_at__month": day.month, "created_at__day": day.day}
    )


def overview_row(row: dict[str, Any], *, label: str = "", link: str = "") -> dict[str, Any]:
    """One row of the overview, its numbers formatted as the page shows them."""
    rate = row.get("failure_rate")
    return {
        **row,
        "label": label,
        "link": link,
        "reviews_text": f"{row['reviews']:,}",
        "attempts_text": f"{row['attempts']:,}",
        "completed_text": f"{row['completed']:,}",
        "failed_text": f"{row['failed']:,}",
        "other_text": f"{row['other']:,}",
        "rate_text": percent(rate),
        "tokens_text": f"{row['tokens']:,}",
        "cost_text": presentation.money(row["cost"]),
        "findings_text": f"{row['findings_total']:,}",
        "severities": [(name, f"{n:,}") for name, n in row["findings"].items() if n],
    }


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


# --- charts: geometry computed here, drawn as inline SVG by the template --------------------
BAR_WIDTH = 360  # px of the longest bar
ROW_HEIGHT = 22
DAY_WIDTH = 22
DAY_HEIGHT = 120


def bar_rows(
    items: Any, *, colors: dict[str, str] | None = None, link: Any = None
) -> dict[str, Any]:
    """Horizontal bars, one per (label, value), scaled to the largest value."""
    rows = [(str(label), value or 0) for label, value in items]
    top = max((value for _, value in rows), default=0) or 1
    return {
        "height": ROW_HEIGHT * max(len(rows), 1),
        "rows": [
            {
                "label": label,
                "value": value,
                "value_text": f"{value:,}",
                "y": i * ROW_HEIGHT,
                "text_y": i * ROW_HEIGHT + 15,
                "width": round(BAR_WIDTH * value / top) if value else 0,
                "color": (colors or {}).get(label, "#417690"),
                "css": f"prism-fill-{label}" if label in SEVERITY_COLORS else "prism-fill",
                "link": link(label) if link else "",
            }
            for i, (label, value) in enumerate(rows)
        ],
    }


def day_columns(days: list[dict[str, Any]], changelist: str = "") -> dict[str, Any]:
    """Stacked vertical bars per day: completed, failed, other; each links to that day's list."""
    top = max((row["reviews"] for row in days), default=0) or 1
    columns = []
    for i, row in enumerate(days):
        scale = DAY_HEIGHT / top
        completed = round(row["completed"] * scale)
        failed = round(row["failed"] * scale)
        other = round(row["other"] * scale)
        columns.append(
            {
                "day": row["day"],
                "total": row["reviews"],
                "completed": row["completed"],
                "failed": row["failed"],
                "other": row["other"],
                "x": i * DAY_WIDTH,
                "completed_y": DAY_HEIGHT - completed,
                "completed_height": completed,
                "failed_y": DAY_HEIGHT - completed - failed,
                "failed_height": failed,
                "other_y": DAY_HEIGHT - completed - failed - other,
                "other_height": other,
                "link": f"{changelist}?{day_query(row['day'])}",
                # A date under every seventh day and the last, never two crowded together.
                "labelled": i == len(days) - 1 or (i % 7 == 0 and i < len(days) - 3),
            }
        )
    return {
        "width": DAY_WIDTH * len(days),
        "height": DAY_HEIGHT,
        "columns": columns,
        "top": f"{top:,}",
        "total": sum(c["total"] for c in columns),
        "failed": sum(c["failed"] for c in columns),
    }


# --- API tokens (knox): who, which token, since when and until when, first ------------------
admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class TokenAdmin(KnoxTokenAdmin):
    """knox's token admin, with the 128-character digest shortened to its first characters so
    the user, the creation and the expiry stay on screen."""

    list_display = ["user", "token_key", "digest_prefix", "created", "expiry"]
    list_display_links = ["user", "token_key"]
    list_select_related = ["user"]
    list_filter = ["user", "created", "expiry"]
    ordering = ["-created"]

    @admin.display(description="digest", ordering="digest")
    def digest_prefix(self, token: AuthToken) -> str:
        return format_html("<code>{}\N{HORIZONTAL ELLIPSIS}</code>", token.digest[:12])
