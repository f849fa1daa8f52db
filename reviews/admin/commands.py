"""Commands people wrote on pull requests, and the pull requests' states, in the admin:
read-only (GitHub comments write them, the worker carries them out), filterable."""

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from reviews.admin.common import NONE
from reviews.models import Command, PullRequestState


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Command)
class CommandAdmin(ReadOnly):
    list_display = [
        "id",
        "repo_full_name",
        "pull_request",
        "verb",
        "author",
        "author_association",
        "status",
        "short_outcome",
        "analysis_link",
        "created_at",
    ]
    list_filter = ["status", "verb", "source", "author_association", "repo_full_name", "created_at"]
    search_fields = ["repo_full_name", "author", "arguments", "delivery_id", "=comment_id"]
    list_select_related = ["analysis"]
    list_per_page = 50
    readonly_fields = ["analysis_link", "finding_link", "comment_link"]
    fieldsets = [
        (
            "Command",
            {
                "fields": [
                    "repo_full_name",
                    "pr_number",
                    "pr_author",
                    "author",
                    "author_association",
                    "verb",
                    "arguments",
                    "comment_link",
                    "source",
                    "comment_id",
                    "in_reply_to_id",
                    "path",
                    "line",
                    "delivery_id",
                ]
            },
        ),
        (
            "Outcome",
            {
                "fields": [
                    "status",
                    "outcome",
                    "reply",
                    "error",
                    "analysis_link",
                    "finding_link",
                    "counted",
                    "attempts",
                ]
            },
        ),
        (
            "Model and time",
            {
                "fields": [
                    "llm_model",
                    "prompt_tokens",
                    "completion_tokens",
                    "cost",
                    "created_at",
                    "started_at",
                    "finished_at",
                ]
            },
        ),
    ]

    @admin.display(description="PR", ordering="pr_number")
    def pull_request(self, command: Command) -> str:
        return f"#{command.pr_number}"

    @admin.display(description="outcome")
    def short_outcome(self, command: Command) -> str:
        text = command.error or command.outcome
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description="analysis")
    def analysis_link(self, command: Command) -> str:
        if command.analysis_id is None:
            return NONE
        url = reverse("admin:reviews_analysis_change", args=[command.analysis_id])
        return format_html('<a href="{}">#{}</a>', url, command.analysis_id)

    @admin.display(description="finding")
    def finding_link(self, command: Command) -> str:
        if command.finding_id is None:
            return NONE
        url = reverse("admin:reviews_finding_change", args=[command.finding_id])
        return format_html('<a href="{}">#{}</a>', url, command.finding_id)

    @admin.display(description="comment")
    def comment_link(self, command: Command) -> str:
        # Only GitHub's own links: the URL came in a webhook payload.
        if not command.comment_url.startswith("https://"):
            return command.comment_url or NONE
        return format_html(
            '<a href="{}" rel="noopener">{}</a>', command.comment_url, command.comment_url
        )


@admin.register(PullRequestState)
class PullRequestStateAdmin(ReadOnly):
    list_display = ["repo_full_name", "pr_number", "paused", "paused_by", "paused_at", "updated_at"]
    list_filter = ["paused", "repo_full_name"]
    search_fields = ["repo_full_name", "paused_by"]
