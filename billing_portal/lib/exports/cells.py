"""Cell values every export shares: neutralising spreadsheet formulas, a CSV echo buffer."""

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
