"""The operator's view of reviews: browse, read findings, re-run, re-post, and an overview.

Findings, titles and the model's raw output are untrusted (a pull request can steer the
model): everything reaches the page through `format_html` or auto-escaped templates, and
the comment preview through an allowlist sanitizer.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from reviews import clients

# Importing them registers them.
from reviews.admin import (  # noqa: F401
    analyses,
    commands,
    feedback,
    findings,
    installations,
    tokens,
)

# Branded as Prism; "View site" leads to the overview (Prism has no public site). The app
# sidebar is off: four models are a click away on the home page, and its 280 px are what
# the review list and the analysis page need at 1280 px.
admin.site.site_header = "Prism"
admin.site.site_title = "Prism"
admin.site.index_title = "Reviews, findings and API tokens"
admin.site.site_url = "/admin/reviews/analysis/overview/"
admin.site.enable_nav_sidebar = False
admin.site.index_template = "admin/reviews/index.html"  # leads with the overview
_index = admin.site.index


def _index_with_mode(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
    """The home page says which mode is on: a personal token, or GitHub App N."""
    return _index(request, {"prism_mode": clients.mode_description(), **(extra_context or {})})


admin.site.index = _index_with_mode  # type: ignore[method-assign]
