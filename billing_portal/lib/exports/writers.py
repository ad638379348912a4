"""A table's rows as CSV, XLSX or a printable PDF report.

Every writer takes the database rows of ``Table.rows`` (or any iterable of tuples in
``Table.fields`` order) and reads them once, so a million-row CSV or XLSX never sits in memory.
"""

import csv
import datetime
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Protocol

from django.template.loader import render_to_string
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from billing_portal.lib.exports.cells import FORMULA_TRIGGERS, safe_cell
from billing_portal.lib.exports.table import Column, Kind, Table, TextRows, Totals
from billing_portal.lib.money import format_inr, money_round

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The rupee sign with the grouping of the reader's locale: Excel and LibreOffice group #,##0 by
# the system's digit grouping, so an Indian locale shows 12,34,567.00. A format code cannot
# say "lakh" itself (#,##,##0 is read as #,##0).
RUPEE_FORMAT = '"₹"#,##0.00;-"₹"#,##0.00'
DATE_FORMAT = "dd-mmm-yyyy"
DATETIME_FORMAT = "dd-mmm-yyyy hh:mm"
CSV_BATCH_ROWS = 500  # rows per chunk of a streamed response: fewer, larger writes
PROGRESS_EVERY = 1000

Progress = Callable[[int], None]


# --- cell values per format -------------------------------------------------------------------


def _local(value: datetime.datetime) -> datetime.datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


def _number_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


_TRIGGERS = frozenset(FORMULA_TRIGGERS)


def _text(value: Any) -> str:
    """safe_cell for the hot loop: every trigger is one character, so a set lookup decides."""
    if type(value) is not str:
        value = str(value)
    return "'" + value if value[:1] in _TRIGGERS else value


def _money_text(value: Any) -> Any:
    # Text already when PostgreSQL printed the NUMERIC(14,2) (Table.values(as_text=True));
    # otherwise a Decimal, which SQLite may hand back as 0 rather than 0.00.
    return value if value.__class__ is str else money_round(value)


def _csv_converter(column: Column) -> Callable[[Any], Any] | None:
    """What turns a database value into its CSV text; None: csv's own str() is right (dates
    print as 2026-11-05, integers as digits)."""
    if column.kind == Kind.TEXT:
        convert: Callable[[Any], Any] = _text
    elif column.kind == Kind.MONEY:
        convert = _money_text
    elif column.kind == Kind.DATETIME:
        convert = lambda v: _local(v).isoformat()  # noqa: E731
    elif column.kind == Kind.NUMBER:
        convert = _number_text
    else:
        convert = str if column.show is not None else None  # type: ignore[assignment]
        if convert is None:
            return None
    show = column.show
    if show is None:
        return convert
    return lambda v: convert(show(v))


def _converters(
    table: Table, make: Callable[[Column], Callable[[Any], Any] | None]
) -> list[tuple[int, Callable[[Any], Any]]]:
    found = []
    for i, column in enumerate(table.columns):
        convert = make(column)
        if convert is not None:
            found.append((i, convert))
    return found


def _convert_rows(
    table: Table,
    raw_rows: Iterable[Sequence[Any]],
    converters: list[tuple[int, Callable[[Any], Any]]],
    totals: Totals | None = None,
) -> Iterator[list[Any]]:
    width = len(table.columns)
    for raw in raw_rows:
        if totals is not None:
            totals.add(raw)
        row = list(raw[:width])
        for i, convert in converters:
            value = row[i]
            if value is not None:
                row[i] = convert(value)
        yield row


# --- CSV ---------------------------------------------------------------------------------------


def csv_lines(table: Table, raw_rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV text in chunks of CSV_BATCH_ROWS rows, for a StreamingHttpResponse. No totals
    row: a CSV is read by programs, which would count it as one more invoice."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.header())
    printed: frozenset[int] = getattr(raw_rows, "text_columns", frozenset())
    converters = [(i, c) for i, c in _converters(table, _csv_converter) if i not in printed]
    for n, row in enumerate(_convert_rows(table, raw_rows, converters), 1):
        writer.writerow(row)
        if n % CSV_BATCH_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_csv(
    table: Table,
    raw_rows: Iterable[Sequence[Any]],
    target: IO[str],
    *,
    progress: Progress | None = None,
) -> int:
    """Write the CSV to an open text file; return the number of rows."""
    rows = 0

    def counted() -> Iterator[Sequence[Any]]:
        nonlocal rows
        for raw in raw_rows:
            yield raw
            rows += 1
            if progress is not None and rows % PROGRESS_EVERY == 0:
                progress(rows)

    printed = getattr(raw_rows, "text_columns", None)
    source: Iterator[Sequence[Any]] = (
        TextRows(counted(), printed) if printed is not None else counted()
    )
    for chunk in csv_lines(table, source):
        target.write(chunk)
    return rows


# --- XLSX --------------------------------------------------------------------------------------


def _xlsx_text(value: Any) -> str:
    # Control characters are not allowed in the file's XML; they carry nothing a reader needs.
    text = value if isinstance(value, str) else str(value)
    return safe_cell(ILLEGAL_CHARACTERS_RE.sub("", text))


def _xlsx_converter(column: Column) -> Callable[[Any], Any] | None:
    convert: Callable[[Any], Any] | None
    if column.kind == Kind.TEXT:
        convert = _xlsx_text
    elif column.kind == Kind.DATETIME:
        # A spreadsheet has no time zones: the Indian wall-clock time, as the pages show it.
        convert = lambda v: _local(v).replace(tzinfo=None)  # noqa: E731
    else:
        convert = None  # Decimal, date and int cells are numbers and dates already
    show = column.show
    if show is None:
        return convert
    if convert is None:
        return show
    final = convert
    return lambda v: final(show(v))


FORMATS = {Kind.MONEY: RUPEE_FORMAT, Kind.DATE: DATE_FORMAT, Kind.DATETIME: DATETIME_FORMAT}


def write_xlsx(
    table: Table,
    raw_rows: Iterable[Sequence[Any]],
    target: str | IO[bytes],
    *,
    notes: Sequence[tuple[str, str]] = (),
    progress: Progress | None = None,
) -> int:
    """Write the workbook (openpyxl write-only: rows go to disk as they come); return the rows.

    Amounts are numbers in a rupee format and dates real dates, so a reader can sum and sort;
    the header is bold and frozen, the data rows carry an autofilter, and a bold totals row
    follows them. ``notes`` (label, value), such as the filters applied, go on a second sheet.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(table.title[:31])
    columns = table.columns
    for i, column in enumerate(columns, 1):
        sheet.column_dimensions[get_column_letter(i)].width = column.width
    sheet.freeze_panes = "A2"  # must be set before the first row in write-only mode
    sheet.print_options.gridLines = True
    sheet.page_setup.orientation = "landscape"
    sheet.print_title_rows = "1:1"

    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DCE6F1")
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=column.header)
        cell.font = bold
        cell.fill = header_fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        header.append(cell)
    sheet.append(header)

    # One styled cell per money, date or time column, filled anew for each row: write-only
    # mode writes a row out before the next is built, and creating a styled cell per value
    # would cost more than writing it.
    styled: dict[int, Cell] = {}
    for i, column in enumerate(columns):
        if column.kind in FORMATS:
            cell = WriteOnlyCell(sheet)
            cell.number_format = FORMATS[column.kind]
            styled[i] = cell
    styled_items = list(styled.items())

    totals = Totals(table)
    converters = _converters(table, _xlsx_converter)
    rows = 0
    for row in _convert_rows(table, raw_rows, converters, totals):
        for i, cell in styled_items:
            value = row[i]
            if value is not None:
                cell.value = value
                row[i] = cell
        sheet.append(row)
        rows += 1
        if progress is not None and rows % PROGRESS_EVERY == 0:
            progress(rows)

    last_column = get_column_letter(len(columns))
    sheet.auto_filter.ref = f"A1:{last_column}{rows + 1}"
    if table.has_totals:
        total_cells = []
        for i, value in enumerate(totals.cells()):
            cell = WriteOnlyCell(sheet, value=value)
            cell.font = bold
            if columns[i].kind in FORMATS and i != 0:
                cell.number_format = FORMATS[columns[i].kind]
            total_cells.append(cell)
        sheet.append(total_cells)

    if notes:
        about = workbook.create_sheet("About")
        about.column_dimensions["A"].width = 24
        about.column_dimensions["B"].width = 80
        for label, value in notes:
            about.append([_xlsx_text(label), _xlsx_text(value)])
    workbook.save(target)
    return rows


# --- One list's export, to a file ---------------------------------------------------------------


class Export(Protocol):
    """A table and the query of its rows, for one user and one set of filters."""

    @property
    def table(self) -> Table: ...

    def count(self) -> int: ...

    def rows(self, *, as_text: bool = False) -> Iterator[Any]: ...


def write_export(
    export: Export,
    fmt: str,
    path: Path,
    *,
    notes: Sequence[tuple[str, str]] = (),
    progress: Progress | None = None,
) -> int:
    """Write the export as CSV or XLSX to ``path`` (an export job's file); return its rows."""
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            return write_csv(export.table, export.rows(as_text=True), handle, progress=progress)
    if fmt == "xlsx":
        return write_xlsx(export.table, export.rows(), str(path), notes=notes, progress=progress)
    raise ValueError(f"no {fmt!r} writer for a list's export")


# --- PDF report --------------------------------------------------------------------------------


def _pdf_cell(column: Column, value: Any) -> str:
    value = column.value(value)
    if value is None or value == "":
        return ""
    if column.kind == Kind.MONEY:
        return format_inr(value)
    if column.kind == Kind.DATE:
        return f"{value:%d %b %Y}"
    if column.kind == Kind.DATETIME:
        return f"{_local(value):%d %b %Y %H:%M}"
    if column.kind == Kind.NUMBER:
        return _number_text(value)
    return str(value)


def report_html(
    table: Table,
    raw_rows: Iterable[Sequence[Any]],
    *,
    notes: Sequence[tuple[str, str]] = (),
    max_rows: int | None = None,
) -> str:
    """The report's HTML: the table's PDF columns, every row, and the totals row."""
    shown = [(i, c) for i, c in enumerate(table.columns) if c.pdf]
    totals = Totals(table)
    body: list[list[tuple[str, str]]] = []
    for raw in raw_rows:
        if max_rows is not None and len(body) >= max_rows:
            raise ValueError(f"more than {max_rows} rows for a PDF report")
        totals.add(raw)
        body.append([(c.kind, _pdf_cell(c, raw[i])) for i, c in shown])
    total_row = None
    if table.has_totals:
        sums = totals.cells()
        total_row = [
            (c.kind, format_inr(sums[i]) if c.total and c.kind == Kind.MONEY else "")
            for i, c in shown
        ]
        total_row[0] = (Kind.TEXT, f"{table.total_label} ({totals.rows})")
    return render_to_string(
        "exports/report.html",
        {
            "title": table.title,
            "headers": [(c.kind, c.header) for _, c in shown],
            "rows": body,
            "total_row": total_row,
            "notes": notes,
            "generated_at": timezone.localtime(),
        },
    )


def pdf_report(
    table: Table,
    raw_rows: Iterable[Sequence[Any]],
    *,
    notes: Sequence[tuple[str, str]] = (),
    max_rows: int | None = None,
    timeout: float | None = None,
) -> bytes:
    """A landscape PDF of the table with its totals, through the project's sandboxed renderer
    (time and memory limits, a URL fetcher that serves only our static files)."""
    from billing_portal.lib.pdfrender import render_pdf

    html = report_html(table, raw_rows, notes=notes, max_rows=max_rows)
    return render_pdf(html, timeout=timeout)
