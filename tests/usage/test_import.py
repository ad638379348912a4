"""Bulk import: formats, rejects with line numbers, exact counts, interruption and resumption."""

import csv
import gzip
import io
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from usage import importer
from usage.models import UsageImport, UsageRecord

HEADER = [
    "tenant_id",
    "meter",
    "resource_id",
    "resource_name",
    "region",
    "quantity",
    "window_start",
    "window_end",
    "idempotency_key",
]


def record(tenant, key, **changes):
    data = {
        "tenant_id": tenant.pk,
        "meter": "vcpu_hours",
        "resource_id": "vm-42",
        "resource_name": "web-1",
        "region": "ap-south-1",
        "quantity": "3.5",
        "window_start": "2026-10-01T00:00:00+05:30",
        "window_end": "2026-10-01T01:00:00+05:30",
        "idempotency_key": key,
    }
    data.update(changes)
    return data


def csv_text(records, header=HEADER):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def jsonl_text(records):
    return "".join(json.dumps(r) + "\n" for r in records)


def write(path: Path, text: str, *, gz: bool = False) -> Path:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def keys():
    return sorted(UsageRecord.objects.values_list("idempotency_key", flat=True))


def read_rejects(path):
    return list(csv.reader(io.StringIO(Path(path).read_text(errors="surrogateescape"))))


def counts(stats):
    return (stats.rows_read, stats.accepted, stats.duplicates, stats.rejected)


def test_a_csv_file_is_stored_with_its_dimension_columns(acme, globex, tmp_path):
    records = [record(acme, f"k{i}") for i in range(3)] + [
        record(globex, "g1", meter="gpu_hours", gpu_type="A100")
    ]
    path = write(tmp_path / "usage.csv", csv_text(records, [*HEADER, "gpu_type"]))
    stats = importer.import_file(path)
    assert counts(stats) == (4, 4, 0, 0)
    gpu = UsageRecord.objects.get(idempotency_key="g1")
    assert (gpu.tenant, gpu.meter.code, gpu.dimension_value, gpu.dimensions) == (
        globex,
        "gpu_hours",
        "A100",
        {"gpu_type": "A100"},
    )
    vm = UsageRecord.objects.get(idempotency_key="k0")
    assert (str(vm.quantity), vm.region, vm.resource_name, vm.dimensions) == (
        "3.500000",
        "ap-south-1",
        "web-1",
        {},
    )
    assert set(UsageRecord.objects.values_list("source", flat=True)) == {"import"}


def test_a_csv_dimensions_column_holds_json(acme, tmp_path):
    rows = [record(acme, "g", meter="gpu_hours", dimensions='{"gpu_type": "H100", "zone": "b"}')]
    path = write(tmp_path / "usage.csv", csv_text(rows, [*HEADER, "dimensions"]))
    importer.import_file(path)
    stored = UsageRecord.objects.get()
    assert (stored.dimension_value, stored.dimensions) == (
        "H100",
        {"gpu_type": "H100", "zone": "b"},
    )


def test_json_lines_are_read_as_the_api_reads_a_batch(acme, tmp_path):
    records = [
        record(acme, "a"),
        record(acme, "f", quantity=0.1),
        record(acme, "g", meter="gpu_hours", dimensions={"gpu_type": "A100"}),
    ]
    path = write(tmp_path / "usage.jsonl", jsonl_text(records) + "\n  \n")
    stats = importer.import_file(path)
    assert counts(stats) == (3, 3, 0, 0)  # blank lines are not records
    assert str(UsageRecord.objects.get(idempotency_key="f").quantity) == "0.100000"
    assert UsageRecord.objects.get(idempotency_key="g").dimension_value == "A100"


@pytest.mark.parametrize("name", ["usage.csv.gz", "usage.csv", "usage.data"])
def test_gzip_is_detected_by_its_magic_bytes_whatever_the_name(acme, tmp_path, name):
    path = write(tmp_path / name, csv_text([record(acme, "a"), record(acme, "b")]), gz=True)
    assert counts(importer.import_file(path)) == (2, 2, 0, 0)


def test_a_gzipped_json_lines_file_without_a_telling_name_is_sniffed(acme, tmp_path):
    path = write(tmp_path / "export.bin", jsonl_text([record(acme, "a")]), gz=True)
    assert counts(importer.import_file(path)) == (1, 1, 0, 0)


def test_rejected_lines_are_written_with_line_numbers_reasons_and_raw_text(acme, tmp_path):
    text = (
        csv_text([record(acme, "good1")])
        + f"{acme.pk},vcpu_hours,vm-1,,,-1,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,neg\n"
        + f"{acme.pk},vcpu_hours,vm-1,too,few\n"
        + f'{acme.pk},vcpu_hours,vm-1,"two\nlines",,lots,2026-10-01T00:00Z,2026-10-01T01:00Z,ml\n'
        + "\n"
        + "999999,vcpu_hours,vm-1,,,1,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,who\n"
        + f"{acme.pk},gpu_hours,vm-1,,,1,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,nogpu\n"
    ).encode() + f"{acme.pk},vcpu_hours,vm-\xff,,,1,x,y,latin\n".encode("latin-1")
    text += csv_text([record(acme, "good2")]).split("\n", 1)[1].encode()
    path = tmp_path / "usage.csv"
    path.write_bytes(text)
    rejects = tmp_path / "rejects.csv"
    stats = importer.import_file(path, rejects_path=rejects)
    assert counts(stats) == (8, 2, 0, 6)
    assert keys() == ["good1", "good2"]
    rows = read_rejects(rejects)
    assert rows[0] == ["line", "reason", "raw"]
    assert [(line, reason) for line, reason, _ in rows[1:]] == [
        ("3", "quantity cannot be negative."),
        ("4", "The line has 5 fields; the header has 9."),
        ("5", "quantity 'lots' is not a number."),  # a quoted field over two lines: its start
        ("8", "Unknown tenant 999999."),
        ("9", "The gpu_hours meter needs dimensions.gpu_type."),
        ("10", "The line is not UTF-8 text."),
    ]
    assert rows[2][2] == f"{acme.pk},vcpu_hours,vm-1,too,few"
    assert rows[3][2].endswith('"two\nlines",,lots,2026-10-01T00:00Z,2026-10-01T01:00Z,ml')
    # The raw line is written back byte for byte, even when it is not UTF-8.
    assert b"vm-\xff" in rejects.read_bytes()


def test_json_lines_that_are_not_json_or_not_objects_are_rejected_by_line(acme, tmp_path):
    text = jsonl_text([record(acme, "a")]) + "{nope\n" + "[1, 2]\n" + jsonl_text([record(acme, "")])
    rejects = tmp_path / "r.csv"
    stats = importer.import_file(write(tmp_path / "u.jsonl", text), rejects_path=rejects)
    assert counts(stats) == (4, 1, 0, 3)
    reasons = [(line, reason.split(":")[0]) for line, reason, _ in read_rejects(rejects)][1:]
    assert reasons == [
        ("2", "The line is not valid JSON"),
        ("3", "A record is a JSON object."),
        ("4", "idempotency_key is missing."),
    ]


def test_a_line_too_long_is_refused_without_being_read_whole(acme, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "MAX_LINE_BYTES", 1024)
    long = json.dumps(record(acme, "long", resource_name="x" * 5000))
    text = jsonl_text([record(acme, "a")]) + long + "\n" + jsonl_text([record(acme, "b")])
    rejects = tmp_path / "r.csv"
    stats = importer.import_file(write(tmp_path / "u.jsonl", text), rejects_path=rejects)
    assert counts(stats) == (3, 2, 0, 1)
    _, (line, reason, raw) = read_rejects(rejects)
    assert (line, reason) == ("2", "The line is longer than 1024 bytes.")
    assert len(raw) < 300


def test_no_rejects_file_is_left_when_nothing_is_rejected(acme, tmp_path):
    rejects = tmp_path / "r.csv"
    rejects.write_text("from an earlier run\n")
    importer.import_file(
        write(tmp_path / "u.csv", csv_text([record(acme, "a")])), rejects_path=rejects
    )
    assert not rejects.exists()


def test_the_same_file_twice_is_all_duplicates_the_second_time(acme, tmp_path):
    path = write(tmp_path / "u.csv", csv_text([record(acme, f"k{i}") for i in range(25)]))
    assert counts(importer.import_file(path, chunk_size=10)) == (25, 25, 0, 0)
    assert counts(importer.import_file(path, chunk_size=10)) == (25, 0, 25, 0)
    assert UsageRecord.objects.count() == 25


def test_a_key_repeated_in_the_file_is_stored_once_within_and_across_chunks(acme, globex, tmp_path):
    records = [record(acme, "a"), record(acme, "a"), record(acme, "b"), record(acme, "c")]
    records += [record(acme, "a"), record(globex, "a")]  # another chunk; another tenant
    path = write(tmp_path / "u.jsonl", jsonl_text(records))
    assert counts(importer.import_file(path, chunk_size=4)) == (6, 4, 2, 0)
    assert UsageRecord.objects.count() == 4


def test_an_interrupted_import_run_again_ends_with_exactly_the_files_records(
    acme, tmp_path, monkeypatch
):
    records = [record(acme, f"k{i:02}") for i in range(23)] + [record(acme, "bad", quantity="-1")]
    path = write(tmp_path / "u.csv", csv_text(records))
    real_store = importer._store
    calls = []

    def store_then_die(rows, *, source):
        calls.append(len(rows))
        if len(calls) > 1:
            raise KeyboardInterrupt  # Ctrl-C, or a killed worker, in the middle of chunk two
        return real_store(rows, source=source)

    monkeypatch.setattr(importer, "_store", store_then_die)
    with pytest.raises(KeyboardInterrupt):
        importer.import_file(path, chunk_size=10)
    assert keys() == [f"k{i:02}" for i in range(10)]  # chunk one committed, chunk two undone

    monkeypatch.setattr(importer, "_store", real_store)
    out = io.StringIO()
    call_command("import_usage", str(path), "--chunk-size", "10", stdout=out)
    assert keys() == [f"k{i:02}" for i in range(23)]
    assert out.getvalue().startswith(
        "u.csv: 24 records read, 13 accepted, 10 duplicates, 1 rejected"
    )


def test_progress_reports_records_and_bytes_after_each_chunk(acme, tmp_path):
    path = write(
        tmp_path / "u.csv.gz", csv_text([record(acme, f"k{i}") for i in range(25)]), gz=True
    )
    seen = []
    importer.import_file(
        path, chunk_size=10, progress=lambda s: seen.append((s.rows_read, s.bytes_read))
    )
    size = path.stat().st_size
    assert [rows for rows, _ in seen] == [10, 20, 25, 25]
    assert all(0 < done <= size for _, done in seen)
    assert seen[-1][1] == size


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_reading_is_constant_in_memory_whatever_the_file_size(acme, tmp_path, fmt):
    records = (record(acme, f"key-{i:06}", resource_name="n" * 190) for i in range(12_000))
    path = tmp_path / f"big.{fmt}"
    with path.open("w") as f:
        if fmt == "csv":
            writer = csv.DictWriter(f, fieldnames=HEADER, lineterminator="\n")
            writer.writeheader()
            writer.writerows(records)
        else:
            f.writelines(json.dumps(r) + "\n" for r in records)
    assert path.stat().st_size > 3_000_000
    tracemalloc.start()
    try:
        stats = importer.import_file(path, chunk_size=500)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counts(stats) == (12_000, 12_000, 0, 0)
    assert peak < 2_000_000, f"peak {peak:,} bytes for a {path.stat().st_size:,} byte file"


# --- the command ------------------------------------------------------------------------------


def test_the_command_prints_a_summary_and_writes_rejects_beside_the_file(acme, tmp_path):
    text = csv_text([record(acme, "a"), record(acme, "b", meter="teleport")])
    path = write(tmp_path / "u.csv", text)
    out = io.StringIO()
    call_command("import_usage", str(path), stdout=out, stderr=io.StringIO())
    rejects = tmp_path / "u.csv.rejects.csv"
    assert out.getvalue() == (
        f"u.csv: 2 records read, 1 accepted, 0 duplicates, 1 rejected "
        f"(lines and reasons in {rejects}).\n"
    )
    assert read_rejects(rejects)[1][:2] == ["3", "Unknown meter 'teleport'."]


def test_the_command_takes_a_format_and_a_rejects_path(acme, tmp_path):
    path = write(tmp_path / "records.txt", jsonl_text([record(acme, "a"), record(acme, "")]))
    rejects = tmp_path / "out" / "bad.csv"
    call_command(
        "import_usage",
        str(path),
        "--format",
        "jsonl",
        "--rejects",
        str(rejects),
        stdout=io.StringIO(),
    )
    assert keys() == ["a"]
    assert rejects.exists()


def test_a_header_without_the_required_columns_is_refused_naming_them(acme, tmp_path):
    header = ["tenant_id", "meter", "resource_id", "qty", "window_start", "idempotency_key"]
    path = write(tmp_path / "u.csv", csv_text([], header))
    with pytest.raises(CommandError, match=r"The header lacks the columns quantity, window_end\."):
        call_command("import_usage", str(path))
    assert UsageRecord.objects.count() == 0


def test_an_empty_csv_file_is_refused(tmp_path, db):
    with pytest.raises(CommandError, match="The file is empty"):
        call_command("import_usage", str(write(tmp_path / "u.csv", "")))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/usage.csv"], "does not exist"),
        (["{file}", "--format", "xml"], "Unknown format 'xml': use csv or jsonl."),
    ],
)
def test_a_missing_file_or_an_unknown_format_is_a_clear_error(tmp_path, db, args, message):
    path = write(tmp_path / "u.csv", csv_text([]))
    with pytest.raises(CommandError, match=message):
        call_command("import_usage", *[a.format(file=path) for a in args])


def test_a_truncated_gzip_file_is_an_error_after_what_it_could_read(acme, tmp_path):
    data = gzip.compress(csv_text([record(acme, f"k{i}") for i in range(200)]).encode())
    path = tmp_path / "u.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CommandError, match="The file cannot be read after line"):
        call_command("import_usage", str(path), stdout=io.StringIO())


def test_the_command_exits_non_zero_when_the_file_cannot_be_read(tmp_path):
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "import_usage", str(tmp_path / "missing.csv")],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "does not exist" in result.stderr


# --- jobs: the same import run by Celery, resumed with exact counts -----------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_import(media, name, text, fmt="csv"):
    stored = Path(media) / "imports" / name
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text(text)
    return UsageImport.objects.create(
        file=f"imports/{name}", original_name=name, format=fmt, bytes_total=len(text)
    )


def test_a_failed_job_resumed_carries_on_with_exact_counts_and_rejects_listed_once(
    acme, media, billing_admin, monkeypatch
):
    records = [record(acme, f"k{i:02}") for i in range(25)]
    records[3]["quantity"] = "-1"  # chunk one
    records[14]["quantity"] = "-2"  # chunk two, which fails
    job = make_import(media, "u.csv", csv_text(records))
    monkeypatch.setattr(importer, "CHUNK_ROWS", 10)
    real_store = importer._store
    calls = []

    def store_then_fail(rows, *, source):
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("the database went away")
        return real_store(rows, source=source)

    monkeypatch.setattr(importer, "_store", store_then_fail)
    assert importer.usage_import_run(import_id=job.pk) == "failed"
    job.refresh_from_db()
    assert (job.status, job.rows_read, job.accepted, job.rejected) == ("failed", 10, 9, 1)
    assert job.error == "ConnectionError: the database went away"
    assert UsageRecord.objects.count() == 9

    assert importer.usage_import_resume(usage_import=job, actor=billing_admin)
    assert importer.usage_import_run(import_id=job.pk) == "done"
    job.refresh_from_db()
    assert (
        job.status,
        job.attempts,
        job.rows_read,
        job.accepted,
        job.duplicates,
        job.rejected,
    ) == (
        "done",
        2,
        25,
        23,
        0,
        2,
    )
    assert job.bytes_read == job.bytes_total
    lines = [row[0] for row in read_rejects(job.rejects_file.path)]
    assert lines == ["line", "5", "16"]
    assert UsageRecord.objects.count() == 23


def test_a_second_delivery_of_the_task_does_nothing(acme, media):
    job = make_import(media, "u.csv", csv_text([record(acme, "a")]))
    assert importer.usage_import_run(import_id=job.pk) == "done"
    assert importer.usage_import_run(import_id=job.pk) == "not queued"
    job.refresh_from_db()
    assert (job.attempts, job.accepted, job.duplicates) == (1, 1, 0)


def test_a_running_job_is_taken_over_only_once_it_has_stalled(acme, media):
    import datetime

    from django.utils import timezone

    job = make_import(media, "u.csv", csv_text([record(acme, "a")]))
    UsageImport.objects.filter(pk=job.pk).update(status="running", progress_at=timezone.now())
    assert importer.usage_import_run(import_id=job.pk) == "not queued"
    UsageImport.objects.filter(pk=job.pk).update(
        progress_at=timezone.now() - datetime.timedelta(minutes=6)
    )
    assert importer.usage_import_run(import_id=job.pk) == "done"


def test_a_superseded_job_undoes_its_chunk_and_stops(acme, media, monkeypatch):
    job = make_import(media, "u.csv", csv_text([record(acme, f"k{i}") for i in range(5)]))
    real_store = importer._store

    def store_while_taken_over(rows, *, source):
        stored = real_store(rows, source=source)
        UsageImport.objects.filter(pk=job.pk).update(attempts=99)  # a newer claim
        return stored

    monkeypatch.setattr(importer, "_store", store_while_taken_over)
    assert importer.usage_import_run(import_id=job.pk) == "superseded"
    assert UsageRecord.objects.count() == 0


# --- PostgreSQL: COPY -----------------------------------------------------------------------


@pytest.mark.postgres
def test_on_postgresql_chunks_go_through_copy_and_count_exactly(
    acme, globex, tmp_path, monkeypatch
):
    def no_row_inserts(*args, **kwargs):
        raise AssertionError("insert_records is the SQLite path")

    monkeypatch.setattr(importer, "insert_records", no_row_inserts)
    copies = []
    real_copy = importer._copy_rows

    def counting_copy(rows, *, source):
        copies.append(len(rows))
        return real_copy(rows, source=source)

    monkeypatch.setattr(importer, "_copy_rows", counting_copy)
    importer.import_file(write(tmp_path / "seed.jsonl", jsonl_text([record(acme, "k00007")])))
    path = tmp_path / "big.csv.gz"
    with gzip.open(path, "wt", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*HEADER, "gpu_type"], lineterminator="\n")
        writer.writeheader()
        for i in range(30_000):
            tenant = acme if i % 2 else globex
            extra = {"meter": "gpu_hours", "gpu_type": "A100"} if i % 3 == 0 else {}
            writer.writerow(record(tenant, f"k{i:05}", quantity=f"{i}.25", **extra))
        writer.writerow(record(acme, "k00007"))  # repeated in the file: a duplicate
        writer.writerow(record(acme, "tab\tand\\backslash", resource_name='quote " \n newline'))
        writer.writerow(record(acme, "neg", quantity="-1"))

    stats = importer.import_file(path)
    assert copies == [1, 10_000, 10_000, 10_000, 2]
    # k00007 is acme's (odd) and was already stored by the seed file; then it comes again.
    assert counts(stats) == (30_003, 30_000, 2, 1)
    assert UsageRecord.objects.count() == 30_001
    odd = UsageRecord.objects.get(tenant=acme, idempotency_key="tab\tand\\backslash")
    assert odd.resource_name == 'quote " \n newline'
    gpu = UsageRecord.objects.get(tenant=globex, idempotency_key="k00006")
    assert (gpu.dimension_value, gpu.dimensions, str(gpu.quantity)) == (
        "A100",
        {"gpu_type": "A100"},
        "6.250000",
    )
    again = importer.import_file(path)
    assert counts(again) == (30_003, 0, 30_002, 1)
