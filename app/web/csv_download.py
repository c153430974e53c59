"""CSV downloads (the progress export and the standard reports): streamed in chunks so a national export
never sits whole in memory, every cell safe to open in a spreadsheet, the file named for what it holds."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator

from flask import Response, stream_with_context

CHUNK = 16384


def safe_cell(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: make them text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_response(header: list[str], rows: Iterable[list[str]], name: str) -> Response:
    """A streamed CSV attachment; `name` is made safe for a file name (letters, digits, '-' and '_')."""

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for row in rows:
            writer.writerow([safe_cell(value) for value in row])
            if buffer.tell() > CHUNK:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    filename = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})
