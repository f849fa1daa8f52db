"""GitHub App mode in the admin: the installations, their repositories (the allow-list,
with what an operator may set on each), and the installation deliveries received.

The rows come from GitHub (deliveries and `sync_installations`): people cannot add them;
what they set is whether a repository is reviewed, its model and its budgets.
"""

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse

from reviews import clients
from reviews.admin.common import NONE
from reviews.models import Installation, InstallationEvent, Repository


def mode_title(title: str) -> str:
    return f"{title} · {clients.mode_description()}"


class FromGitHub(admin.ModelAdmin):
    """Rows GitHub owns: never added by hand; the title says which mode is on."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        title = mode_title(str(self.model._meta.verbose_name_plural).capitalize())
        return super().changelist_view(request, {**(extra_context or {}), "title": title})


class RepositoryInline(admin.TabularInline):
    model = Repository
    fields = ["full_name", "enabled", "model", "daily_budget", "monthly_budget"]
    readonly_fields = ["full_name"]
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Installation)
class InstallationAdmin(FromGitHub):
    list_display = ["id", "account_login", "account_type", "suspended", "repository_count"]
    search_fields = ["account_login"]
    readonly_fields = ["id", "account_login", "account_type", "suspended_at", "created_at"]
    fields = ["id", "account_login", "account_type", "suspended_at", "created_at"]
    inlines = [RepositoryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Installation]:
        return super().get_queryset(request).annotate(repository_total=Count("repositories"))

    @admin.display(boolean=True, ordering="suspended_at")
    def suspended(self, installation: Installation) -> bool:
        return installation.suspended

    @admin.display(description="repositories", ordering="repository_total")
    def repository_count(self, installation: Installation) -> int:
        return getattr(installation, "repository_total", 0)


@admin.register(Repository)
class RepositoryAdmin(FromGitHub):
    list_display = [
        "full_name",
        "installation",
        "enabled",
        "model_column",
        "daily_budget",
        "monthly_budget",
    ]
    list_editable = ["enabled"]
    list_filter = ["enabled", "installation"]
    search_fields = ["full_name"]
    list_select_related = ["installation"]
    readonly_fields = ["full_name", "installation", "github_id", "created_at", "updated_at"]
    fields = [
        "full_name",
        "installation",
        "github_id",
        "enabled",
        "model",
        "daily_budget",
        "monthly_budget",
    ]

    @admin.display(description="LLM model", ordering="model")
    def model_column(self, repository: Repository) -> str:
        return repository.model or f"{NONE} (default)"


@admin.register(InstallationEvent)
class InstallationEventAdmin(FromGitHub):
    list_display = ["received_at", "event", "action", "installation_id", "outcome", "delivery_id"]
    list_filter = ["event", "action"]
    search_fields = ["delivery_id", "outcome"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
