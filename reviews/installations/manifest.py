"""The manifest for GitHub's "create a GitHub App from a manifest" flow. Pure.

https://docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest
"""

from typing import Any
from urllib.parse import urlsplit

# What Prism does with each: reads diffs and the policy file (contents), comments and reviews
# (pull requests, issues), reports a check and a commit status (checks, statuses).
PERMISSIONS = {
    "pull_requests": "write",
    "contents": "read",
    "checks": "write",
    "statuses": "write",
    "issues": "write",
    "metadata": "read",
}
# installation / installation_repositories are sent to every App without subscribing; they
# are listed so that the manifest says everything Prism acts on.
EVENTS = [
    "pull_request",
    "issue_comment",
    "pull_request_review_comment",
    "installation",
    "installation_repositories",
    "check_run",
]
WEBHOOK_PATH = "/webhooks/github/"
NAME_MAX = 34  # GitHub's limit on an App's name


def build(url: str, *, name: str = "Prism", public: bool = False) -> dict[str, Any]:
    """The manifest for a Prism reachable at `url` (https://prism.example.com)."""
    base = url.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{url!r} is not a base URL such as https://prism.example.com")
    if not name.strip() or len(name) > NAME_MAX:
        raise ValueError(f"the App's name must be 1 to {NAME_MAX} characters")
    return {
        "name": name.strip(),
        "url": base,
        "description": "Self-hosted LLM code review for pull requests.",
        "public": public,
        "hook_attributes": {"url": f"{base}{WEBHOOK_PATH}", "active": True},
        # After the App is created GitHub sends the browser here (with a one-time `code`):
        # the admin, where the operator goes on with the README's steps.
        "redirect_url": f"{base}/admin/",
        # After someone installs the App: the repositories it now covers.
        "setup_url": f"{base}/admin/reviews/repository/",
        "setup_on_update": True,
        "default_permissions": dict(PERMISSIONS),
        "default_events": list(EVENTS),
    }
