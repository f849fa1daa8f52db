"""The read API over analyses and the findings ledger, and a staff-only re-run. Thin:
selectors and filters read, dispatch re-runs.

Authentication is a knox token (`Authorization: Token <key>`, stored hashed) or the admin's
session; every endpoint, the schema and the docs included, needs an authenticated user.
"""

from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from django.urls import include, path, reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import routers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from reviews import audit, clients, dispatch, policy
from reviews.api import serializers
from reviews.api.filters import AnalysisFilter, CommandFilter, FindingFilter
from reviews.feedback import figures
from reviews.github.client import GitHubError
from reviews.models import Analysis, Command, Finding
from reviews.pipeline import policy as repository_policy


class CanRerun(BasePermission):
    """Queueing a review spends money and writes to GitHub: staff with the permission only."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user.is_staff and request.user.has_perm("reviews.rerun_analysis"))


class AnalysisPagination(LimitOffsetPagination):
    default_limit = 20
    max_limit = 100


class AnalysisViewSet(viewsets.ReadOnlyModelViewSet):
    """Reviews, newest first. Filter with the query parameters; page with limit and offset."""

    queryset = Analysis.objects.order_by("-created_at", "-id")
    pagination_class = AnalysisPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = AnalysisFilter

    def get_serializer_class(self) -> type[BaseSerializer]:
        if self.action == "list":
            return serializers.AnalysisListSerializer
        if self.request is not None and self.request.user.has_perm("reviews.view_raw_output"):
            return serializers.StaffAnalysisDetailSerializer
        return serializers.AnalysisDetailSerializer

    @extend_schema(
        request=None,
        responses={202: serializers.AnalysisDetailSerializer},
        description="Queue a fresh review of the same pull request and head (staff with "
        "the `reviews.rerun_analysis` permission). "
        "Answers with the new analysis, whose `rerun_of` is this one.",
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, CanRerun])
    def rerun(self, request: Request, pk: Any = None) -> Response:
        analysis = self.get_object()
        rerun = dispatch.queue_rerun(analysis)
        audit.record(request.user, analysis, f"Re-ran the review through the API: #{rerun.id}.")
        return Response(self.get_serializer(rerun).data, status=status.HTTP_202_ACCEPTED)


class FindingViewSet(viewsets.ReadOnlyModelViewSet):
    """Findings of the ledger, one per finding per pull request, newest first.

    Filter with the query parameters; page with limit and offset.
    """

    queryset = Finding.objects.order_by("-id")
    serializer_class = serializers.FindingSerializer
    pagination_class = AnalysisPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = FindingFilter

    @extend_schema(
        parameters=[serializers.FeedbackQuerySerializer],
        responses={200: serializers.FeedbackFiguresSerializer},
        description="Which kinds of finding people reject: findings raised (each finding of a "
        "pull request once, by the day of the review that raised it), dismissed, the dismissal "
        "rate, and people's 👍 and 👎 on Prism's inline comments (read when the pull request "
        "closed), by category, severity and model. The admin's overview shows the same figures.",
    )
    @action(
        detail=False,
        methods=["get"],
        filter_backends=[],
        pagination_class=None,
        serializer_class=serializers.FeedbackFiguresSerializer,
    )
    def feedback(self, request: Request) -> Response:
        query = serializers.FeedbackQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = figures.finding_feedback(**query.validated_data)
        return Response(serializers.FeedbackFiguresSerializer(found).data)


class CommandViewSet(viewsets.ReadOnlyModelViewSet):
    """Commands written on pull requests (`@prism review`, `pause`, `dismiss`, `ask`…), newest
    first, with who wrote them and what came of them. Filter with the query parameters; page
    with limit and offset."""

    queryset = Command.objects.order_by("-created_at", "-id")
    serializer_class = serializers.CommandSerializer
    pagination_class = AnalysisPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = CommandFilter


class RepositoryPolicyView(APIView):
    """The review policy a repository's pull requests follow now: each key's value and where
    it came from (the operator, the repository's `.github/prism.yml`, or the default)."""

    @extend_schema(
        responses={
            200: {
                "type": "object",
                "properties": {
                    "repository": {"type": "string"},
                    "file": {"type": "object", "nullable": True},
                    "errors": {"type": "array", "items": {"type": "string"}},
                    "settings": {"type": "object", "additionalProperties": {"type": "object"}},
                },
            }
        },
        description="Read from the repository's default branch through GitHub (cached as "
        "for reviews). 400 for a name that is not owner/repo; 502 when GitHub cannot be read.",
    )
    def get(self, request: Request, owner: str, repo: str) -> Response:
        full_name = f"{owner}/{repo}"
        try:
            effective = repository_policy.current(clients.github_client_for(full_name), full_name)
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        except GitHubError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_502_BAD_GATEWAY)
        return Response({"repository": full_name, **policy.describe(effective)})


def only_api_endpoints(endpoints: list[tuple], **kwargs: Any) -> list[tuple]:
    """drf-spectacular hook: describe /api/ only, not the webhook or the admin."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/")]


router = routers.DefaultRouter()
router.register("analyses", AnalysisViewSet, basename="analysis")
router.register("findings", FindingViewSet, basename="finding")
router.register("commands", CommandViewSet, basename="command")


class DocsView(SpectacularSwaggerView):
    """The API's documentation page; a browser without a session is sent to the admin's
    login, which brings it back here (the page is for people, the schema for programs)."""

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, NotAuthenticated | AuthenticationFailed):
            login = reverse("admin:login")
            return HttpResponseRedirect(
                f"{login}?{urlencode({'next': self.request.get_full_path()})}"
            )
        return super().handle_exception(exc)


urlpatterns = [
    path(
        "repositories/<str:owner>/<str:repo>/policy/",
        RepositoryPolicyView.as_view(),
        name="repository-policy",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]
