"""One exporter for every table the portal hands out: CSV (streamed), XLSX and a printable PDF.

A ``Table`` lists its ``Column``s (header, the ``values()`` path that feeds it, its kind: text,
money, date, number) once; ``csv_lines``, ``write_xlsx`` and ``pdf_report`` turn the same rows into
each format, so the invoices, invoice lines, payments and usage exports cannot drift apart.
"""

from billing_portal.lib.exports.cells import FORMULA_TRIGGERS, EchoBuffer, safe_cell
from billing_portal.lib.exports.table import Column, Kind, Table, Totals
from billing_portal.lib.exports.writers import (
    XLSX_CONTENT_TYPE,
    Export,
    csv_lines,
    pdf_report,
    write_csv,
    write_export,
    write_xlsx,
)

__all__ = [
    "FORMULA_TRIGGERS",
    "XLSX_CONTENT_TYPE",
    "Column",
    "EchoBuffer",
    "Export",
    "Kind",
    "Table",
    "Totals",
    "csv_lines",
    "pdf_report",
    "safe_cell",
    "write_csv",
    "write_export",
    "write_xlsx",
]
