"""One exporter for every table the portal hands out: CSV (streamed), XLSX and a printable PDF.

A ``Table`` lists its ``Column``s (header, the ``values()`` path that feeds it, its kind: text,
money, date, number) once; ``csv_lines``, ``write_xlsx`` and ``pdf_report`` turn the same rows into
each format, so the invoices, invoice lines, payments and usage exports cannot drift apart.
"""

from typing import Any

# A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets
# (CSV/formula injection, OWASP); a leading apostrophe makes it plain text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would evaluate is prefixed with '; numbers and dates pass as is."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class EchoBuffer:
    """A file-like object whose write returns the line, for csv.writer in a streamed response."""

    def write(self, value: str) -> str:
        return value


from billing_portal.lib.exports.table import Column, Kind, Table, Totals  # noqa: E402
from billing_portal.lib.exports.writers import (  # noqa: E402
    XLSX_CONTENT_TYPE,
    csv_lines,
    pdf_report,
    write_csv,
    write_xlsx,
)

__all__ = [
    "FORMULA_TRIGGERS",
    "XLSX_CONTENT_TYPE",
    "Column",
    "EchoBuffer",
    "Kind",
    "Table",
    "Totals",
    "csv_lines",
    "pdf_report",
    "safe_cell",
    "write_csv",
    "write_xlsx",
]
