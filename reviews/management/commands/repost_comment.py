from django.core.management.base import BaseCommand, CommandError

from reviews.models import Analysis
from reviews.pipeline import publish


class Command(BaseCommand):
    help = (
        "Post a completed review to its pull request again: the summary comment (edited in "
        "place), inline comments not posted before, and the commit status. Use it after "
        "fixing what `comment_error` reports."
    )

    def add_arguments(self, parser):
        parser.add_argument("analysis_id", type=int, help="Id of a completed analysis.")

    def handle(self, *args, analysis_id: int, **options):
        analysis = Analysis.objects.filter(id=analysis_id).first()
        if analysis is None:
            raise CommandError(f"No analysis with id {analysis_id}.")
        if analysis.status != Analysis.Status.COMPLETED:
            raise CommandError(
                f"Analysis {analysis_id} is {analysis.status}; only completed reviews are posted."
            )
        if not publish.repost_comment(analysis_id):
            analysis.refresh_from_db()
            raise CommandError(f"Posting failed: {analysis.comment_error}")
        analysis.refresh_from_db()
        self.stdout.write(self.style.SUCCESS(f"Posted: {analysis.comment_url}"))
