import re

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from reviews import clients, dispatch, logs, selectors, services
from reviews.comments import render
from reviews.errors import ServiceError
from reviews.github.client import GitHubClient, GitHubError
from reviews.installations import gate
from reviews.models import Analysis
from reviews.pipeline import failure, publish, review

SHORT_REFERENCE = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)#(?P<number>\d+)$")
URL_REFERENCE = re.compile(
    r"^https?://[^/\s]+/(?P<repo>[\w.-]+/[\w.-]+)/pull/(?P<number>\d+)(/.*)?$"
)


def parse_reference(text: str) -> tuple[str, int]:
    """`owner/repo#123` or a pull request URL → (`owner/repo`, 123)."""
    match = SHORT_REFERENCE.match(text.strip()) or URL_REFERENCE.match(text.strip())
    if not match or int(match["number"]) <= 0:
        raise CommandError(
            f"{text!r} is not a pull request: use owner/repo#123 or "
            "https://github.com/owner/repo/pull/123"
        )
    return match["repo"], int(match["number"])


class Command(BaseCommand):
    help = (
        "Review a pull request on demand, without a webhook. By default the review is "
        "queued for a worker; --sync runs it here and prints the comment."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "pull_request", help="owner/repo#123, or https://github.com/owner/repo/pull/123"
        )
        parser.add_argument(
            "--sync",
            action="store_true",
            help="Review in this process (no worker needed) and print the markdown comment.",
        )
        parser.add_argument(
            "--no-post",
            action="store_true",
            help="Store the review without posting anything to GitHub (implies --sync).",
        )

    def handle(self, *args, pull_request: str, sync: bool, no_post: bool, **options):
        repo, number = parse_reference(pull_request)
        try:
            installation_id = gate.installation_of(repo) if clients.app_mode() else None
            github = clients.github_client(installation_id)
            pr = github.get_pull_request(repo, number)
        except (ValueError, GitHubError) as exc:
            raise CommandError(f"Could not read {repo}#{number}: {exc}") from exc
        if pr.state != "open":
            raise CommandError(f"{repo}#{number} is {pr.state}; only open pull requests.")
        with transaction.atomic():
            analysis = services.analysis_create(
                pull_request=pr,
                event="manual",
                action="review_pr",
                publish=not no_post,
                installation_id=installation_id,
            )
            if not (sync or no_post):
                dispatch.dispatch_on_commit(analysis.id)
        if not (sync or no_post):
            self.stdout.write(self.style.SUCCESS(f"Queued analysis {analysis.id}."))
            return
        self._review_here(analysis, github)

    def _review_here(self, analysis: Analysis, github: GitHubClient) -> None:
        """The worker's path in this process: the same claim, pipeline and failure handling."""
        if services.analysis_claim(analysis_id=analysis.id) is not services.Claim.CLAIMED:
            raise CommandError(f"Analysis {analysis.id} is already being reviewed.")
        self.stderr.write(f"Reviewing {analysis.repo_full_name}#{analysis.pr_number}…")
        try:
            with logs.bound(**selectors.analysis_log_fields(analysis_id=analysis.id)):
                review.run(analysis.id, github=github)
        except ServiceError as exc:
            failure.fail_review(analysis.id, exc)
            raise CommandError(f"Analysis {analysis.id} failed: {exc}") from exc
        except BaseException as exc:  # Ctrl-C included: never leave the row running
            failure.fail_review(analysis.id, exc)
            raise
        analysis.refresh_from_db()
        if analysis.status != Analysis.Status.COMPLETED:
            raise CommandError(f"Analysis {analysis.id} {analysis.status}: {analysis.error}")
        self.stdout.write(render.render_review(analysis.result, publish.comment_context(analysis)))
        where = analysis.comment_url or "not posted"
        self.stderr.write(self.style.SUCCESS(f"Analysis {analysis.id} completed ({where})."))
