"""What an export holds: its columns, the query that feeds them, and which rows its totals add."""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import connections, transaction
from django.db.models import F, QuerySet, TextField
from django.db.models.functions import Cast

from billing_portal.lib.money import money_round

# Rows fetched per round trip: a server-side cursor on PostgreSQL, chunked reads on SQLite, so a
# million-row export holds a couple of thousand rows in memory at a time.
CHUNK_ROWS = 5000


def stream(values: QuerySet[Any], *, chunk_size: int = CHUNK_ROWS) -> Iterator[Any]:
    """Every row of a query, a chunk at a time, in constant memory.

    On PostgreSQL the server-side cursor is read inside a transaction: outside one, Django
    declares it WITH HOLD and PostgreSQL copies the whole result aside before the first row; and
    cursor_tuple_fraction = 1 tells the planner the export reads every row, not the first tenth
    a cursor is planned for. (Together: a million-row CSV in 27 s instead of 167 s.)
    """
    connection = connections[values.db]
    if connection.vendor != "postgresql":
        yield from values.iterator(chunk_size=chunk_size)
        return
    with transaction.atomic(using=values.db):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        yield from values.iterator(chunk_size=chunk_size)


class Kind(StrEnum):
    TEXT = "text"
    MONEY = "money"  # rupees, Decimal to the paisa
    DATE = "date"
    DATETIME = "datetime"  # aware; shown in Asia/Kolkata
    NUMBER = "number"  # a Decimal quantity or rate, shown without trailing zeros
    INTEGER = "integer"


# What PostgreSQL prints as the CSV shows it (see Table.values).
TEXT_CASTABLE = frozenset({Kind.MONEY, Kind.DATE, Kind.INTEGER})


@dataclass(frozen=True)
class Column:
    header: str
    field: str  # a values_list() path or one of the table's annotations
    kind: Kind = Kind.TEXT
    show: Callable[[Any], Any] | None = None  # the database value -> what the cell holds
    total: bool = False  # added up in the totals row (XLSX and PDF)
    width: float = 14  # XLSX, in characters
    pdf: bool = True  # printed in the PDF report (a landscape page holds about a dozen)

    def value(self, raw: Any) -> Any:
        return self.show(raw) if self.show is not None and raw is not None else raw


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[Column, ...]
    annotations: Mapping[str, Any] = field(default_factory=dict)
    # (field, test): the rows the totals row adds up, tested on the field's database value; None
    # adds every row. The invoices' totals leave out drafts and voided invoices, as the list's
    # summary bar does, so the two agree.
    total_when: tuple[str, Callable[[Any], bool]] | None = None
    total_label: str = "Total"

    @property
    def fields(self) -> list[str]:
        fields = [c.field for c in self.columns]
        if self.total_when and self.total_when[0] not in fields:
            fields.append(self.total_when[0])  # fetched for the test, never shown
        return fields

    @property
    def has_totals(self) -> bool:
        return any(c.total for c in self.columns)

    def without(self, headers: Iterable[str]) -> "Table":
        gone = set(headers)
        return replace(self, columns=tuple(c for c in self.columns if c.header not in gone))

    def text_columns(self, queryset: QuerySet[Any]) -> frozenset[int]:
        """The columns ``values(as_text=True)`` has PostgreSQL print."""
        if connections[queryset.db].vendor != "postgresql":
            return frozenset()
        return frozenset(
            i
            for i, column in enumerate(self.columns)
            if column.kind in TEXT_CASTABLE and column.show is None
        )

    def values(self, queryset: QuerySet[Any], *, as_text: bool = False) -> QuerySet[Any]:
        """The rows as a values_list() query. ``as_text`` (PostgreSQL, for CSV): amounts, dates
        and integers come back as PostgreSQL prints them (1180.00, 2026-11-05), the text a CSV
        holds anyway, sparing a Decimal or date object per cell and its str() (measured: a
        third of a million-row CSV's time)."""
        annotations = dict(self.annotations)
        fields = self.fields
        if as_text:
            for i in sorted(self.text_columns(queryset)):
                column = self.columns[i]
                alias = f"_text_{i}"
                source = annotations.pop(column.field, None)
                annotations[alias] = Cast(
                    source if source is not None else F(column.field), TextField()
                )
                fields[i] = alias
        return queryset.annotate(**annotations).values_list(*fields)

    def rows(
        self, queryset: QuerySet[Any], *, as_text: bool = False, chunk_size: int = CHUNK_ROWS
    ) -> Iterator[Any]:
        """The database rows (tuples in ``fields`` order), streamed; with ``as_text``, a
        ``TextRows`` that tells the CSV writer which cells are text already."""
        rows = stream(self.values(queryset, as_text=as_text), chunk_size=chunk_size)
        return TextRows(rows, self.text_columns(queryset)) if as_text else rows

    def header(self) -> list[str]:
        return [c.header for c in self.columns]


class TextRows(Iterator[Any]):
    """Rows some of whose cells PostgreSQL printed as text (``Table.values(as_text=True)``)."""

    def __init__(self, rows: Iterator[Any], text_columns: frozenset[int]) -> None:
        self.rows = rows
        self.text_columns = text_columns

    def __next__(self) -> Any:
        return next(self.rows)


class Totals:
    """The sums of a table's total columns over the rows its ``total_when`` admits."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.positions = [i for i, c in enumerate(table.columns) if c.total]
        self.sums: dict[int, Decimal] = dict.fromkeys(self.positions, Decimal(0))
        self.rows = 0  # rows added up
        self.test: Callable[[Any], bool] | None = None
        self.test_at = 0
        if table.total_when is not None:
            self.test_at = table.fields.index(table.total_when[0])
            self.test = table.total_when[1]

    def add(self, raw: Sequence[Any]) -> None:
        if self.test is not None and not self.test(raw[self.test_at]):
            return
        self.rows += 1
        for i in self.positions:
            value = raw[i]
            if value is not None:
                self.sums[i] += value

    def cells(self) -> list[Any]:
        """The totals row: the label first, then each total under its column."""
        row: list[Any] = [None] * len(self.table.columns)
        row[0] = self.table.total_label
        for i in self.positions:
            column = self.table.columns[i]
            total = self.sums[i]
            row[i] = money_round(total) if column.kind == Kind.MONEY else total
        return row
