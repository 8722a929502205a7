"""CSV downloads made for spreadsheets: every cell quoted, UTF-8 with a byte-order mark (so that
spreadsheet programs read it as UTF-8), streamed a line at a time.

A cell that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a
line break, after OWASP's advice on CSV injection) gets a leading `'`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from flask import Response, stream_with_context

from portal.models import utcnow

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
BYTE_ORDER_MARK = "\ufeff"


def neutralise(cell: str) -> str:
    """`cell`, made inert for spreadsheets: a leading `'` when it would start a formula."""
    return f"'{cell}" if cell.startswith(FORMULA_TRIGGERS) else cell


def csv_line(cells: Iterable[str]) -> str:
    """One quoted CSV line (CRLF), each cell neutralised."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerow(
        neutralise(cell) for cell in cells
    )
    return buffer.getvalue()


def heading(columns: Iterable[str]) -> str:
    """The first line of a download: the byte-order mark and the column names."""
    return BYTE_ORDER_MARK + csv_line(columns)


def download(lines: Iterator[str], name: str) -> Response:
    """`lines` streamed as `<name>-<UTC time>.csv`, never cached. Flask tears the request down
    when the view returns and pushes it again while streaming, so `lines` must open what it reads
    (e.g. `get_session()`) when iterated, not before."""
    response = Response(stream_with_context(lines), mimetype="text/csv")
    filename = f"{name}-{utcnow():%Y%m%d-%H%M%S}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
