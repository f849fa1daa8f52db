import sys

from django.core.management.base import BaseCommand, CommandError

from reviews import clients
from reviews.comments import render
from reviews.diffs import parser as diff_parser
from reviews.github.resources import PullRequest
from reviews.llm.client import LLMError
from reviews.pipeline import review


class Command(BaseCommand):
    help = (
        "Review a local unified diff with the configured LLM and print the markdown comment; "
        "no GitHub needed and nothing is stored. Example: "
        "git diff main | python manage.py review_diff -"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "diff_file",
            nargs="?",
            default="-",
            help="A file holding the output of `git diff`, or - (the default) for stdin.",
        )
        parser.add_argument("--title", default="Local changes", help="Context for the model.")
        parser.add_argument(
            "--description", default="", help="What the change is for (context for the model)."
        )

    def handle(self, *args, diff_file: str, title: str, description: str, **options):
        text = self._read(diff_file)
        try:
            files = diff_parser.parse(text)
        except diff_parser.DiffError as exc:
            raise CommandError(f"Not a unified diff: {exc}") from exc
        if not files:
            raise CommandError("The diff is empty: nothing to review.")
        pr = PullRequest(
            repo_full_name="local",
            number=0,
            title=title,
            body=description,
            html_url="",
            author="",
            head_sha="local",
            base_sha="",
        )
        try:
            result = review.review_files(
                files, pr=pr, llm=clients.llm_client(), timings=review.Timings()
            )
        except LLMError as exc:
            raise CommandError(f"The review failed: {exc}") from exc
        context = render.CommentContext(analysis_id=0, pull_request=pr)
        self.stdout.write(render.render_review(result, context))

    def _read(self, diff_file: str) -> str:
        try:
            if diff_file == "-":
                return sys.stdin.read()
            with open(diff_file, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {diff_file}: {exc.strerror}") from exc
