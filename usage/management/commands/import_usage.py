"""manage.py import_usage FILE: bulk import of usage records from CSV or JSON lines (gzip too).

Run again after an interruption, it skips what was stored and ends with exactly the file's
records. Rejected lines go to a CSV file (line, reason, raw) beside the input unless --rejects
names another.
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from usage import importer


class Command(BaseCommand):
    help = "Import usage records from a CSV or JSON lines file, gzipped or not."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV with a header row, or JSON lines; .gz allowed")
        parser.add_argument(
            "--rejects",
            metavar="PATH",
            help="where rejected lines are written (default: FILE.rejects.csv)",
        )
        parser.add_argument(
            "--format",
            dest="fmt",
            metavar="csv|jsonl",
            help="the file's format (default: from its name, else from its first line)",
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=importer.CHUNK_ROWS,
            help=f"records per transaction (default {importer.CHUNK_ROWS:,})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        fmt = options["fmt"]
        if fmt is not None and fmt not in importer.FORMATS:
            raise CommandError(f"Unknown format {fmt!r}: use csv or jsonl.")
        if not path.is_file():
            raise CommandError(f"{path} does not exist or is not a file.")
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        rejects = Path(options["rejects"] or f"{path}.rejects.csv")
        # tqdm rewrites its line with \r: it needs the raw stream, not Django's line wrapper.
        # disable=None switches the bar off when stderr is not a terminal.
        stream = getattr(self.stderr, "_out", self.stderr)
        with tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            desc=path.name,
            file=stream,
            disable=None,
        ) as bar:

            def progress(stats: importer.ImportStats) -> None:
                bar.update(stats.bytes_read - bar.n)
                bar.set_postfix(records=f"{stats.rows_read:,}", rejected=f"{stats.rejected:,}")

            try:
                stats = importer.import_file(
                    path,
                    fmt=fmt,
                    rejects_path=rejects,
                    chunk_size=options["chunk_size"],
                    progress=progress,
                )
            except importer.ImportFileError as error:
                raise CommandError(str(error)) from None
        summary = (
            f"{path.name}: {stats.rows_read:,} records read, {stats.accepted:,} accepted, "
            f"{stats.duplicates:,} duplicates, {stats.rejected:,} rejected"
        )
        if stats.rejected:
            summary += f" (lines and reasons in {rejects})"
        self.stdout.write(summary + ".")
