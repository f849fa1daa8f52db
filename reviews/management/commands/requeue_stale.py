from django.core.management.base import BaseCommand

from reviews import services
from reviews.dispatch import dispatch_review


class Command(BaseCommand):
    help = (
        "Dispatch reviews the broker never took (it was down), lost, or that a dead worker "
        "left running past its lease. The periodic sweep does the same every "
        "SWEEP_INTERVAL_SECONDS; run this by hand after an outage."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="List the analyses that would be dispatched without dispatching them.",
        )

    def handle(self, *args, dry_run: bool = False, **options):
        analysis_ids = services.analyses_needing_dispatch()
        if not analysis_ids:
            self.stdout.write("No stale analyses.")
            return
        if dry_run:
            self.stdout.write(f"Would dispatch {len(analysis_ids)}: {analysis_ids}")
            return
        failed = [pk for pk in analysis_ids if not dispatch_review(pk, redispatch=True)]
        sent = len(analysis_ids) - len(failed)
        self.stdout.write(self.style.SUCCESS(f"Dispatched {sent} of {len(analysis_ids)}."))
        if failed:
            self.stderr.write(self.style.ERROR(f"Broker unavailable for: {failed}"))
            raise SystemExit(1)
