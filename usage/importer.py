"""Bulk import of usage records: CSV or JSON lines, gzipped or not, read in constant memory.

Every record goes through ``usage.ingest.parse_record``, so a file is validated exactly as the
HTTP API validates a batch. Records are stored a chunk at a time, each chunk in a transaction of
its own: on PostgreSQL by COPY into a temporary staging table and one
``INSERT ... SELECT ... ON CONFLICT (tenant_id, idempotency_key) DO NOTHING``, elsewhere through
``usage.ingest.insert_records``. An interrupted import keeps the chunks it committed and a second
run skips their keys, so it ends with exactly the records of the file.

The second half runs uploaded files as jobs (``UsageImport`` rows): a compare-and-set claims a
row, and its counters are written in the same transaction as each chunk, so a resumed job carries
on from the last committed chunk with exact counts.
"""

import csv
import datetime
import gzip
import io
import json
import logging
import os
import queue
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import IO, Any, NamedTuple

from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from usage.ingest import (
    COLUMNS,
    INSERT_CHUNK,
    ROW_COLUMNS,
    Catalogue,
    RecordError,
    Row,
    copy_new_records,
    insert_records,
    parse_record,
)
from usage.models import UsageImport, UsageRecord

log = logging.getLogger(__name__)

CHUNK_ROWS = 10_000  # records per transaction: a few MB of memory, a second or so of work
MAX_LINE_BYTES = 64 * 1024  # a record is well under 1 kB; a longer line is refused, not read
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = "\ufeff"
FORMATS = ("csv", "jsonl")
# The API's field names; any other CSV column is a dimension (e.g. gpu_type).
RECORD_FIELDS = frozenset(
    {
        "tenant_id",
        "tenant",
        "meter",
        "resource_id",
        "resource_name",
        "region",
        "quantity",
        "window_start",
        "window_end",
        "idempotency_key",
        "dimensions",
    }
)
REQUIRED_COLUMNS = (
    "tenant_id",
    "meter",
    "resource_id",
    "quantity",
    "window_start",
    "window_end",
    "idempotency_key",
)
REJECTS_HEADER = ("line", "reason", "raw")
STAGING_TABLE = "usage_import_staging"


class ImportFileError(Exception):
    """The file as a whole cannot be imported: missing, unreadable, or a header lacking columns."""


class ImportSuperseded(Exception):
    """This job's claim on its import was taken over by a newer attempt; its chunk is undone."""


@dataclass
class ImportStats:
    """What an import did; ``rows_read == accepted + duplicates + rejected`` at every chunk."""

    rows_read: int = 0  # records (CSV rows after the header, non-blank JSON lines)
    accepted: int = 0
    duplicates: int = 0  # already stored, or repeated earlier in the file
    rejected: int = 0
    bytes_read: int = 0  # of the file as stored, compressed or not
    bytes_total: int = 0
    rejects_bytes: int = 0  # size of the rejects file after the last committed chunk


Progress = Callable[[ImportStats], None]


class _Item(NamedTuple):
    line: int  # where the record starts, 1-based, the header being line 1 of a CSV file
    raw: str  # the text of the record, without its line end
    record: object  # what parse_record is given (None when ``error`` is set)
    error: str = ""


# --- Reading ---------------------------------------------------------------------------------


class _LineTooLong(Exception):
    pass


class _CountingReader(io.RawIOBase):
    """Counts the bytes taken from the file, for progress of a gzipped file as well as a plain."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self.raw.read(-1 if size is None else size)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        data = self.raw.readline(-1 if size is None else size)
        self.count += len(data)
        return data


class _Lines:
    """The file's lines for csv.reader (or the JSON lines loop), each remembered until taken.

    Bytes that are not UTF-8 survive as surrogates, so the record they are in can be refused by
    line with its raw text written back unchanged. A line longer than MAX_LINE_BYTES is skipped
    without being held in memory.
    """

    def __init__(self, stream: io.BufferedIOBase) -> None:
        self.stream = stream
        self.number = 0
        self.taken: list[str] = []

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        data = self.stream.readline(MAX_LINE_BYTES)
        if not data:
            raise StopIteration
        self.number += 1
        if len(data) >= MAX_LINE_BYTES and not data.endswith(b"\n"):
            while True:
                more = self.stream.readline(MAX_LINE_BYTES)
                if not more or more.endswith(b"\n"):
                    break
            self.taken.append(data[:200].decode("utf-8", "replace") + "…")
            raise _LineTooLong
        text = data.decode("utf-8", "surrogateescape")
        if self.number == 1 and text.startswith(UTF8_BOM):
            text = text[1:]
        self.taken.append(text)
        return text

    def take(self) -> tuple[int, str]:
        """The first line number and the text of the lines read since the last take."""
        first = self.number - len(self.taken) + 1
        raw = "".join(self.taken).rstrip("\r\n")
        self.taken.clear()
        return first, raw


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True  # the usual case, checked without encoding the text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def format_from_name(name: str) -> str | None:
    """csv or jsonl from a file name (``.gz`` allowed on either), or None."""
    lowered = name.lower().removesuffix(".gz")
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return None


def _is_gzip(raw: IO[bytes]) -> bool:
    start = raw.tell()
    magic = raw.read(2)
    raw.seek(start)
    return magic == GZIP_MAGIC


def _sniff_format(raw: IO[bytes], gzipped: bool) -> str:
    """JSON lines when the first thing in the file is ``{``, else CSV."""
    start = raw.tell()
    try:
        head = gzip.GzipFile(fileobj=raw).read(512) if gzipped else raw.read(512)
    except (OSError, EOFError, zlib.error):
        head = b""
    raw.seek(start)
    text = head.decode("utf-8", "replace").lstrip(UTF8_BOM + " \t\r\n")
    return "jsonl" if text.startswith("{") else "csv"


def check_header(header: list[str]) -> list[str]:
    """The normalised column names, or ImportFileError naming what is missing."""
    columns = [name.strip().lower() for name in header]
    doubled = sorted({name for name in columns if columns.count(name) > 1})
    if doubled:
        raise ImportFileError(f"The header names a column twice: {', '.join(doubled)}.")
    if "" in columns:
        raise ImportFileError(f"The header has an unnamed column (column {columns.index('') + 1}).")
    present = set(columns)
    if "tenant" in present:
        present.add("tenant_id")  # the API accepts either name
    missing = [name for name in REQUIRED_COLUMNS if name not in present]
    if missing:
        raise ImportFileError(
            f"The header lacks the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}. A CSV file starts with a header row naming "
            f"{', '.join(REQUIRED_COLUMNS)} (and optionally resource_name, region, dimensions "
            "or dimension columns such as gpu_type)."
        )
    return columns


def _csv_record(columns: list[str], values: list[str]) -> dict[str, object]:
    """A CSV row as the API's JSON object; empty cells are absent, as missing keys are in JSON."""
    record: dict[str, object] = {}
    dimensions: dict[str, object] = {}
    extra: dict[str, str] = {}
    for name, value in zip(columns, values, strict=True):
        value = value.strip()
        if not value:
            continue
        if name == "dimensions":
            try:
                parsed = json.loads(value)
            except ValueError:
                raise RecordError("dimensions is not valid JSON.") from None
            if not isinstance(parsed, dict):
                raise RecordError("dimensions must be an object.")
            dimensions.update(parsed)
        elif name in RECORD_FIELDS:
            record[name] = value
        else:
            extra[name] = value
    dimensions.update(extra)  # a column of its own wins over the same key in ``dimensions``
    if dimensions:
        record["dimensions"] = dimensions
    return record


def _csv_items(lines: _Lines) -> Iterator[_Item]:
    reader = csv.reader(lines)
    while True:
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFileError(
                "The file is empty: a CSV file starts with a header row."
            ) from None
        except (csv.Error, _LineTooLong) as error:
            raise ImportFileError(
                f"The header row cannot be read: {error or 'too long'}."
            ) from None
        lines.take()
        if any(cell.strip() for cell in header):
            break
    if not _is_utf8("".join(header)):
        raise ImportFileError("The header row is not UTF-8 text.")
    columns = check_header(header)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except _LineTooLong:
            line, raw = lines.take()
            yield _Item(line, raw, None, f"The line is longer than {MAX_LINE_BYTES} bytes.")
            continue
        except csv.Error as error:
            line, raw = lines.take()
            yield _Item(line, raw, None, f"The line is not valid CSV: {error}.")
            continue
        line, raw = lines.take()
        if not values:
            continue  # a blank line
        if not _is_utf8(raw):
            yield _Item(line, raw, None, "The line is not UTF-8 text.")
        elif len(values) != len(columns):
            yield _Item(
                line,
                raw,
                None,
                f"The line has {len(values)} fields; the header has {len(columns)}.",
            )
        else:
            try:
                record = _csv_record(columns, values)
            except RecordError as error:
                yield _Item(line, raw, None, str(error))
            else:
                yield _Item(line, raw, record)


def _jsonl_items(lines: _Lines) -> Iterator[_Item]:
    while True:
        try:
            next(lines)
        except StopIteration:
            return
        except _LineTooLong:
            line, raw = lines.take()
            yield _Item(line, raw, None, f"The line is longer than {MAX_LINE_BYTES} bytes.")
            continue
        line, raw = lines.take()
        if not raw.strip():
            continue
        if not _is_utf8(raw):
            yield _Item(line, raw, None, "The line is not UTF-8 text.")
            continue
        try:
            # The same json.loads as the API: a float quantity is read from its text later.
            record = json.loads(raw)
        except ValueError as error:
            yield _Item(line, raw, None, f"The line is not valid JSON: {error}.")
            continue
        yield _Item(line, raw, record)


def _items(raw: IO[bytes], fmt: str | None, name: str) -> tuple[Iterator[_Item], _CountingReader]:
    """The records of a seekable binary file, and the reader that counts the bytes taken."""
    gzipped = _is_gzip(raw)
    fmt = fmt or format_from_name(name) or _sniff_format(raw, gzipped)
    if fmt not in FORMATS:
        raise ImportFileError(f"Unknown format {fmt!r}: use csv or jsonl.")
    counter = _CountingReader(raw)
    stream: io.BufferedIOBase = (
        gzip.GzipFile(fileobj=counter, mode="rb") if gzipped else io.BufferedReader(counter)
    )
    lines = _Lines(stream)
    return (_csv_items(lines) if fmt == "csv" else _jsonl_items(lines)), counter


def check_file(fileobj: IO[bytes], *, name: str, fmt: str | None = None) -> None:
    """Refuse an upload whose start cannot be imported: a bad CSV header, a first line that is
    not a JSON object, a broken gzip stream. Leaves the file at its start."""
    start = fileobj.tell()
    try:
        items, _ = _items(fileobj, fmt, name)
        first = next(items, None)
    except (OSError, EOFError, zlib.error) as error:
        raise ImportFileError(f"The file cannot be read: {error}.") from None
    finally:
        fileobj.seek(start)
    if first is None:
        raise ImportFileError("The file holds no records.")
    if (fmt or format_from_name(name)) == "jsonl" and not isinstance(first.record, dict):
        raise ImportFileError(
            f"Line {first.line} is not a JSON object: a JSON lines file holds one object a line."
        )


# --- Storing ---------------------------------------------------------------------------------

STAGING_COLUMNS = ROW_COLUMNS  # source and received_at are the same for the whole chunk


def _copy_rows(rows: list[Row], *, source: str) -> int:
    """PostgreSQL: COPY the chunk straight into the table; should one of its keys be stored
    already, COPY it into a staging table instead, then one insert that skips known keys."""
    table = UsageRecord._meta.db_table
    now = timezone.now()
    stored = copy_new_records(rows, source=source, received_at=now)  # a file not seen before
    if stored is not None:
        return stored
    names = ", ".join(STAGING_COLUMNS)
    with connection.cursor() as cursor:
        # ON COMMIT DROP: nothing is left behind in a pooled connection; the explicit DROP below
        # matters inside an outer transaction (a test), where the commit comes later.
        cursor.execute(
            f"CREATE TEMP TABLE {STAGING_TABLE} ("
            "tenant_id bigint, meter_id bigint, resource_id text, resource_name text, "
            "region text, dimension_value text, dimensions jsonb, quantity numeric, "
            "window_start timestamptz, window_end timestamptz, idempotency_key text"
            ") ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY {STAGING_TABLE} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) "  # noqa: S608 - names are ours
            f"SELECT {names}, %s, %s FROM {STAGING_TABLE} "
            "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
            [source, now],
        )
        stored = cursor.rowcount
        cursor.execute(f"DROP TABLE {STAGING_TABLE}")
    return stored


def _store(rows: list[Row], *, source: str) -> int:
    """Store a chunk's rows whose (tenant, key) is new; return how many were stored."""
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        return _copy_rows(rows, source=source)
    stored = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        stored += insert_records(rows[start : start + INSERT_CHUNK], source=source)
    return stored


class _Rejects:
    """The rejects file (CSV: line, reason, raw), opened at the first reject.

    ``keep`` is its size at the last committed chunk: anything after it was written for a chunk
    that was rolled back, and is cut off so that a resumed import does not list a line twice.
    """

    def __init__(self, path: Path | None, keep: int) -> None:
        self.path = path
        self.size = keep
        self.file: IO[bytes] | None = None
        if path is not None and path.exists() and path.stat().st_size > keep:
            if keep:
                os.truncate(path, keep)
            else:
                path.unlink()

    def write(self, item: _Item) -> None:
        if self.path is None:
            return
        if self.file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = self.size == 0
            self.file = self.path.open("wb" if fresh else "ab")
            if fresh:
                self._row(REJECTS_HEADER)
        self._row((str(item.line), item.error, item.raw))

    def _row(self, values: tuple[str, ...]) -> None:
        assert self.file is not None  # noqa: S101 - opened by write
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(values)
        self.file.write(text.getvalue().encode("utf-8", "surrogateescape"))

    def sync(self) -> int:
        """Make what was written durable before the chunk commits; return the size."""
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.size = self.file.tell()
        return self.size

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def import_file(
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    rejects_path: str | os.PathLike[str] | None = None,
    chunk_size: int = CHUNK_ROWS,
    progress: Progress | None = None,
    checkpoint: Progress | None = None,
    resume: ImportStats | None = None,
    source: str = UsageRecord.Source.IMPORT,
) -> ImportStats:
    """Import a file of usage records a chunk at a time.

    ``checkpoint`` is called inside each chunk's transaction (a failure there undoes the chunk);
    ``progress`` after each commit. ``resume`` continues after the records an earlier run of the
    same file committed (as its checkpoint recorded them), with its counts.
    """
    source_path = Path(path)
    try:
        raw = source_path.open("rb")
    except OSError as error:
        raise ImportFileError(f"{source_path} cannot be opened: {error.strerror}.") from None
    with raw:
        stats = replace(resume) if resume else ImportStats()
        stats.bytes_total = os.fstat(raw.fileno()).st_size
        items, counter = _items(raw, fmt, source_path.name)
        rejects = _Rejects(Path(rejects_path) if rejects_path else None, stats.rejects_bytes)
        try:
            _run(items, counter, stats, rejects, chunk_size, progress, checkpoint, source)
        finally:
            rejects.close()
    return stats


def _guarded(items: Iterator[_Item]) -> Iterator[_Item]:
    """The items, with a failure to read the file (not to store it) as an ImportFileError."""
    line = 0
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except (OSError, EOFError, zlib.error) as error:
            # A truncated gzip stream or a read error: what was committed stays; run it again.
            raise ImportFileError(f"The file cannot be read after line {line}: {error}.") from None
        line = item.line
        yield item


@dataclass
class _Chunk:
    """Records read and validated, to be stored in one transaction."""

    rows: list[Row] = field(default_factory=list)
    rejected: list[_Item] = field(default_factory=list)
    read: int = 0
    repeated: int = 0  # repeated inside this chunk; across chunks ON CONFLICT counts them
    bytes_read: int = 0  # of the file, when the chunk's last record had been read
    error: Exception | None = None  # reading failed here; ``rejected`` was read before it


def _chunks(
    items: Iterator[_Item],
    counter: _CountingReader,
    catalogue: Catalogue,
    chunk_size: int,
    skip: int,
) -> Iterator[_Chunk]:
    """The file's records parsed and validated, ``chunk_size`` at a time (the last one short)."""
    chunk = _Chunk()
    keys: set[tuple[int, str]] = set()
    try:
        for item in _guarded(items):
            if skip:
                skip -= 1  # committed by an earlier run
                continue
            chunk.read += 1
            row: Row | None = None
            if not item.error:
                try:
                    row = parse_record(item.record, catalogue)
                except RecordError as error:
                    item = item._replace(error=str(error))
            if row is None:
                chunk.rejected.append(item)
            elif (row.tenant_id, row.idempotency_key) in keys:
                chunk.repeated += 1
            else:
                keys.add((row.tenant_id, row.idempotency_key))
                chunk.rows.append(row)
            if chunk.read >= chunk_size:
                chunk.bytes_read = counter.count
                yield chunk
                chunk = _Chunk()
                keys.clear()
    except Exception as error:
        # What was read before the failure is not stored, but its rejects are listed.
        yield _Chunk(rejected=chunk.rejected, error=error)
        return
    if chunk.read:
        chunk.bytes_read = counter.count
        yield chunk


class _ReadAhead:
    """Reads and validates the next chunk in a thread while the caller stores this one.

    Validation is Python holding the GIL; storing is mostly waiting for the database, which
    works on another core. Overlapped, an import takes about as long as the longer of the two
    rather than their sum. The thread reads a chunk only when asked for it (one ahead), so at
    most two chunks are held; it never touches the database.
    """

    _END = object()

    def __init__(self, chunks: Iterator[_Chunk]) -> None:
        self._chunks = chunks
        self._ready: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._wanted = threading.Semaphore(1)  # the first chunk is wanted at once
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="usage-import-read", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                while not self._wanted.acquire(timeout=0.1):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                chunk = next(self._chunks, self._END)
                self._ready.put(chunk)
                if chunk is self._END:
                    return
        except BaseException as error:  # handed to the caller, raised there
            self._ready.put(error)

    def __iter__(self) -> Iterator[_Chunk]:
        while True:
            item = self._ready.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, _Chunk)  # noqa: S101 - what _read puts
            self._wanted.release()  # read the next one while this one is stored
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _run(
    items: Iterator[_Item],
    counter: _CountingReader,
    stats: ImportStats,
    rejects: _Rejects,
    chunk_size: int,
    progress: Progress | None,
    checkpoint: Progress | None,
    source: str,
) -> None:
    def flush(chunk: _Chunk) -> None:
        with transaction.atomic():
            stored = _store(chunk.rows, source=source)
            done = replace(
                stats,
                rows_read=stats.rows_read + chunk.read,
                accepted=stats.accepted + stored,
                duplicates=stats.duplicates + chunk.repeated + len(chunk.rows) - stored,
                rejected=stats.rejected + len(chunk.rejected),
                bytes_read=chunk.bytes_read,
                rejects_bytes=rejects.sync(),
            )
            if checkpoint:
                checkpoint(done)
        for name in (f.name for f in fields(ImportStats)):
            setattr(stats, name, getattr(done, name))
        # With DEBUG on, Django keeps the last 9,000 statements with their parameters inlined:
        # megabytes per chunk here, so forget them to keep the import's memory constant.
        connection.queries_log.clear()
        if progress:
            progress(stats)

    reader = _ReadAhead(_chunks(items, counter, Catalogue(), chunk_size, skip=stats.rows_read))
    try:
        for chunk in reader:
            for item in chunk.rejected:
                rejects.write(item)
            if chunk.error is not None:
                raise chunk.error
            flush(chunk)
    finally:
        reader.close()
    stats.bytes_read = stats.bytes_total
    if progress:
        progress(stats)


# --- Jobs: uploaded files imported by Celery --------------------------------------------------

STALE_AFTER = datetime.timedelta(minutes=5)  # no chunk for this long: the job is presumed dead


def _dispatch(import_id: int) -> None:
    from usage.tasks import import_usage_file

    try:
        import_usage_file.delay(import_id)
    except Exception:
        # The row stays queued; the detail page offers to queue it again once it looks stale.
        log.warning("usage import %s stays queued: the broker did not take the task", import_id)


@transaction.atomic
def usage_import_create(*, upload: UploadedFile, fmt: str, actor: User) -> UsageImport:
    """Keep the uploaded file under MEDIA_ROOT/imports/ and queue its import on commit."""
    usage_import = UsageImport(
        original_name=(upload.name or "upload")[:255],
        format=fmt,
        uploaded_by=actor,
        bytes_total=upload.size or 0,
    )
    usage_import.file.save(Path(upload.name or "upload").name, upload, save=False)
    usage_import.save()
    transaction.on_commit(lambda: _dispatch(usage_import.pk))
    return usage_import


def usage_import_resumable(usage_import: UsageImport) -> bool:
    """Failed, or queued or running without a sign of life for STALE_AFTER."""
    if usage_import.status == UsageImport.Status.FAILED:
        return True
    if usage_import.status == UsageImport.Status.DONE:
        return False
    last = usage_import.progress_at or usage_import.created_at
    return last < timezone.now() - STALE_AFTER


@transaction.atomic
def usage_import_resume(*, usage_import: UsageImport, actor: User) -> bool:
    """Queue a failed or stalled import again; it carries on after its last committed chunk."""
    now = timezone.now()
    stale = now - STALE_AFTER
    # Setting progress_at makes a second click (or a second admin) a no-op.
    requeued = (
        UsageImport.objects.filter(pk=usage_import.pk)
        .filter(
            Q(status=UsageImport.Status.FAILED)
            | Q(
                status__in=[UsageImport.Status.QUEUED, UsageImport.Status.RUNNING],
                progress_at__lt=stale,
            )
            | Q(status=UsageImport.Status.QUEUED, progress_at=None, created_at__lt=stale)
        )
        .update(status=UsageImport.Status.QUEUED, progress_at=now, finished_at=None, error="")
    )
    if requeued:
        log.info("usage import %s queued again by %s", usage_import.pk, actor)
        transaction.on_commit(lambda: _dispatch(usage_import.pk))
    return bool(requeued)


def _claim(import_id: int) -> UsageImport | None:
    """Queued -> running, once: the compare-and-set decides which delivery of the task works.

    A running import with no chunk for STALE_AFTER is taken over too (its worker died and the
    broker redelivered the task); should the old job still be alive, its next checkpoint finds
    the attempt changed and undoes its chunk.
    """
    now = timezone.now()
    claimable = Q(status=UsageImport.Status.QUEUED) | Q(
        status=UsageImport.Status.RUNNING, progress_at__lt=now - STALE_AFTER
    )
    claimed = UsageImport.objects.filter(claimable, pk=import_id).update(
        status=UsageImport.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        progress_at=now,
        finished_at=None,
        error="",
    )
    if not claimed:
        return None
    usage_import = UsageImport.objects.get(pk=import_id)
    if not usage_import.rejects_file:
        usage_import.rejects_file.name = f"imports/rejects/import-{import_id}-rejects.csv"
        UsageImport.objects.filter(pk=import_id).update(rejects_file=usage_import.rejects_file.name)
    return usage_import


def _stats_of(usage_import: UsageImport) -> ImportStats:
    return ImportStats(**{f.name: getattr(usage_import, f.name) for f in fields(ImportStats)})


def usage_import_run(*, import_id: int) -> str:
    """Run a queued import; any other state means another delivery has it or had it."""
    usage_import = _claim(import_id)
    if usage_import is None:
        return "not queued"
    attempt = usage_import.attempts
    current = UsageImport.objects.filter(
        pk=import_id, attempts=attempt, status=UsageImport.Status.RUNNING
    )

    def save_progress(stats: ImportStats) -> None:
        # In the chunk's transaction: the counters always match what is stored.
        values = {f.name: getattr(stats, f.name) for f in fields(ImportStats)}
        if not current.update(**values, progress_at=timezone.now()):
            raise ImportSuperseded(f"import {import_id} attempt {attempt} was superseded")

    try:
        stats = import_file(
            usage_import.file.path,
            fmt=usage_import.format,
            rejects_path=default_storage.path(str(usage_import.rejects_file.name)),
            chunk_size=CHUNK_ROWS,
            checkpoint=save_progress,
            resume=_stats_of(usage_import) if usage_import.rows_read else None,
        )
    except ImportSuperseded:
        log.warning("usage import %s attempt %s stopped: superseded", import_id, attempt)
        return "superseded"
    except Exception as error:
        log.exception("usage import %s failed", import_id)
        message = (
            str(error) if isinstance(error, ImportFileError) else f"{type(error).__name__}: {error}"
        )
        current.update(
            status=UsageImport.Status.FAILED, error=message[:2000], finished_at=timezone.now()
        )
        return "failed"
    current.update(
        status=UsageImport.Status.DONE,
        finished_at=timezone.now(),
        progress_at=timezone.now(),
        **{f.name: getattr(stats, f.name) for f in fields(ImportStats)},
    )
    log.info(
        "usage import %s done: %s read, %s accepted, %s duplicates, %s rejected",
        import_id,
        stats.rows_read,
        stats.accepted,
        stats.duplicates,
        stats.rejected,
    )
    return "done"
