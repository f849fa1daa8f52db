"""What the admin pages share: permissions, colours, links into the diff, the comment's
preview, and the list filters."""

from collections import defaultdict
from dataclasses import dataclass

import nh3
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from reviews import presentation, results, selectors
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
