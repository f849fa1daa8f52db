import argparse
import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import QuerySet
from django.utils import timezone

from reviews.dispatch import queue_rerun
from reviews.models import Analysis

UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(text: str) -> timedelta:
    """`30m`, `2h`, `2d`, `1w` as a timedelta (argparse type)."""
    match = re.fullmatch(r"\s*([1-9][0-9]*)\s*([mhdw])\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use a number and m, h, d or w, e.g. 30m, 2h, 2d, 1w"
        )
    return timedelta(**{UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = (
        "Queue fresh reviews of the same pull requests and heads: of the analyses given by id, "
        "or of those chosen with --failed and/or --since. Each re-run is a new analysis that "
        "records which one it re-runs; the originals are left as they are."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "analysis_ids", nargs="*", type=int, metavar="ID", help="Ids of analyses to re-run."
        )
        parser.add_argument(
            "--failed",
            action="store_true",
            help="Re-run failed analyses that have not been re-run yet.",
        )
        parser.add_argument(
            "--since",
            type=duration,
            metavar="DURATION",
            help="Only analyses created within this long ago: 30m, 2h, 2d or 1w. "
            "Alone, re-runs every finished analysis created since then.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be re-run; change nothing."
        )

    def handle(self, *args, analysis_ids, failed, since, dry_run, **options):
        analyses = self.select(analysis_ids, failed=failed, since=since)
        if not analyses:
            self.stdout.write("Nothing to re-run.")
            return
        if dry_run:
            for analysis in analyses:
                self.stdout.write(f"Would re-run #{analysis.id} {self.describe(analysis)}")
            self.stdout.write(self.style.SUCCESS(f"Would re-run {len(analyses)}."))
            return
        for number, analysis in enumerate(analyses, start=1):
            rerun = queue_rerun(analysis)
            self.stdout.write(
                f"[{number}/{len(analyses)}] #{analysis.id} {self.describe(analysis)} "
                f"-> queued as #{rerun.id}"
            )
        self.stdout.write(self.style.SUCCESS(f"Queued {len(analyses)} re-run(s)."))

    def select(
        self, analysis_ids: list[int], *, failed: bool, since: timedelta | None
    ) -> list[Analysis]:
        if analysis_ids and (failed or since):
            raise CommandError("Give analysis ids, or --failed/--since, not both.")
        if analysis_ids:
            found = Analysis.objects.in_bulk(analysis_ids)
            missing = [pk for pk in analysis_ids if pk not in found]
            if missing:
                raise CommandError(f"No analysis with id {', '.join(map(str, missing))}.")
            # In the order given, each once.
            return [found[pk] for pk in dict.fromkeys(analysis_ids)]
        if not (failed or since):
            raise CommandError("Say what to re-run: analysis ids, --failed, or --since.")
        # A review still queued or running has its answer coming; re-running it only duplicates.
        queryset: QuerySet[Analysis] = Analysis.objects.exclude(
            status__in=(Analysis.Status.QUEUED, Analysis.Status.RUNNING)
        ).order_by("id")
        if failed:
            # A failure already re-run has its answer in the re-run; don't queue it twice.
            queryset = queryset.filter(status=Analysis.Status.FAILED, reruns__isnull=True)
        if since:
            queryset = queryset.filter(created_at__gte=timezone.now() - since)
        return list(queryset.distinct())

    @staticmethod
    def describe(analysis: Analysis) -> str:
        return (
            f"{analysis.repo_full_name}#{analysis.pr_number} @ {analysis.head_sha[:8]} "
            f"({analysis.status})"
        )
