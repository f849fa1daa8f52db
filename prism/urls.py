from django.contrib import admin
from django.urls import include, path, re_path

from reviews.health import healthz
from reviews.metrics_endpoint import metrics_view
from reviews.webhooks import GitHubWebhookView

urlpatterns = [
    # People paste the payload URL with and without the trailing slash; accept both
    # rather than redirect, since GitHub does not follow redirects for a POST.
    re_path(r"^webhooks/github/?$", GitHubWebhookView.as_view(), name="github-webhook"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include("reviews.api.views")),
]
