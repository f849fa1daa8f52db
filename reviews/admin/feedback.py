"""The feedback reads of closed pull requests, read-only: what each read and what it could not."""

from django.contrib import admin
from django.http import HttpRequest

from reviews.models import FeedbackRead


@admin.register(FeedbackRead)
class FeedbackReadAdmin(admin.ModelAdmin):
    """One row per closed delivery: the worker writes it, the operator reads its failures."""

    list_display = [
        "created_at",
        "repo_full_name",
        "pull_request",
        "merged",
        "status",
        "comments_read",
        "comments_missing",
        "attempts",
        "short_error",
    ]
    list_filter = ["status", "merged", "repo_full_name", "created_at"]
    search_fields = ["repo_full_name", "delivery_id", "error"]
    date_hierarchy = "created_at"
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: FeedbackRead | None = None) -> bool:
        return False

    @admin.display(description="PR", ordering="pr_number")
    def pull_request(self, read: FeedbackRead) -> str:
        return f"#{read.pr_number}"

    @admin.display(description="error")
    def short_error(self, read: FeedbackRead) -> str:
        return read.error[:200]
