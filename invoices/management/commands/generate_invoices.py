"""manage.py generate_invoices --period 2026-10 [--tenant ID ...] [--dry-run] [--processes N]"""

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.utils import timezone
from tqdm import tqdm

from billing_portal.lib.money import format_inr
from invoices import generation, run_process
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Build one draft subscription invoice per tenant for a month (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", required=True, help="The month, e.g. 2026-10.")
        parser.add_argument("--tenant", type=int, action="append", help="Only this tenant id.")
        parser.add_argument("--dry-run", action="store_true", help="Show, write nothing.")
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="Chunks drafted by this many processes at once, as Celery workers would "
            "(default 1; PostgreSQL only).",
        )

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
        processes = options["processes"]
        if processes < 1:
            raise CommandError("--processes must be at least 1.")
        if processes > 1 and connections["default"].vendor != "postgresql":
            raise CommandError("--processes needs PostgreSQL (SQLite takes one writer at a time).")
        size = settings.INVOICE_RUN_CHUNK
        chunks = [ids[start : start + size] for start in range(0, len(ids), size)]
        with tqdm(total=len(ids), unit="tenant", disable=None, file=self.stderr) as bar:
            for chunk, result in self._drafts(period, chunks, processes):
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

    def _drafts(
        self, period: generation.Period, chunks: list[list[int]], processes: int
    ) -> Iterator[tuple[list[int], generation.RunResult]]:
        if processes == 1:
            run = generation.run_start(period)
            for chunk in chunks:
                yield chunk, generation.generate_for_tenants(chunk, period, run=run)
            return
        # Fresh interpreters (spawn), never forks of this one: a fork would share its database
        # connections. They start while the aggregate is taken.
        database = connections["default"].settings_dict["NAME"]
        connections.close_all()
        with ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=run_process.start,
            initargs=(database,),
        ) as pool:
            run = generation.run_start(period)
            futures = {
                pool.submit(generation.generate_chunk_by_id, run.pk, chunk): chunk
                for chunk in chunks
            }
            for future in as_completed(futures):
                yield futures[future], future.result()

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
