"""manage.py generate_invoices --period 2026-10 [--tenant ID ...] [--dry-run]"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from billing_portal.lib.money import format_inr
from invoices import generation
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Build one draft subscription invoice per tenant for a month (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", required=True, help="The month, e.g. 2026-10.")
        parser.add_argument("--tenant", type=int, action="append", help="Only this tenant id.")
        parser.add_argument("--dry-run", action="store_true", help="Show, write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            period = generation.Period.month(options["period"])
        except ValueError as error:
            raise CommandError(str(error)) from error
        tenants = Tenant.objects.order_by("pk")
        if options["tenant"]:
            tenants = tenants.filter(pk__in=options["tenant"])
            missing = set(options["tenant"]) - set(tenants.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No tenant with id {', '.join(map(str, sorted(missing)))}.")
        if options["dry_run"]:
            self._dry_run(list(tenants), period, timezone.now())
            return
        created = skipped = 0
        failed: list[tuple[int, str]] = []
        ids = list(tenants.values_list("pk", flat=True))
        run = generation.run_start(period)
        size = settings.INVOICE_RUN_CHUNK
        with tqdm(total=len(ids), unit="tenant", disable=None, file=self.stderr) as bar:
            for start in range(0, len(ids), size):
                chunk = ids[start : start + size]
                result = generation.generate_for_tenants(chunk, period, run=run)
                created, skipped = created + result.created, skipped + result.skipped
                failed.extend(result.failed)
                bar.update(len(chunk))
        self.stdout.write(
            self.style.SUCCESS(
                f"{period}: {created} drafts created, {skipped} skipped (exist or nothing to bill)."
            )
        )
        for tenant_id, reason in failed:
            self.stderr.write(f"tenant {tenant_id} failed: {reason}")
        if failed:
            raise CommandError(f"{len(failed)} tenants failed; run again to retry them.")

    def _dry_run(self, tenants: list[Tenant], period: generation.Period, cutoff: Any) -> None:
        total = 0
        for tenant in tenants:
            draft = generation.build_draft(tenant, period, cutoff=cutoff)
            if not draft.lines:
                continue
            total += 1
            self.stdout.write(
                f"{tenant.display_name}: {len(draft.lines)} lines, {draft.records} records, "
                f"{format_inr(draft.subtotal)} before tax"
            )
            for line in draft.lines:
                self.stdout.write(f"    {line.description}: {format_inr(line.amount)}")
        self.stdout.write(
            f"Dry run for {period}: {total} invoices would be drafted; nothing written."
        )
