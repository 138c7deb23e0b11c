"""Writing rows as an aligned table, CSV, JSON or JSON Lines (for the CLI).

Text in event files is arbitrary: messages may hold newlines, tabs, terminal
escape sequences, wide (CJK, emoji) characters. The table escapes control
characters (so a message can neither break a row nor drive the terminal) and
pads by display width. Machine formats keep the text exact: CSV quotes as
RFC 4180 says, JSON is strict (non-finite floats become their names, from
`conventions.nonfinite_name`, as in the plugin's HTTP routes).
"""

from __future__ import annotations

import csv
import json
import math
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from tb_callbacks_plugin import conventions

try:
    from rich.cells import cell_len as _cell_len  # rich comes with keras
except ImportError:  # pragma: no cover

    def _cell_len(text: str) -> int:  # type: ignore[misc]  # rich's also takes a unicode version
        return sum(
            0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
            for c in text
        )


FORMATS = ("table", "csv", "json", "jsonl")
ELLIPSIS = "…"
# Characters that would break a row or reorder/hide text on a terminal: C0/C1
# controls, line/paragraph separators and bidirectional overrides.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def strict_dumps(value: Any, *, compact: bool = True) -> str:
    """Strict JSON (RFC 8259): non-finite floats as strings, unicode kept as is."""
    return json.dumps(
        conventions.name_nonfinite(value),
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":") if compact else None,
    )


def printable(text: str) -> str:
    """`text` on one line: control and bidi characters shown as escapes."""
    out = []
    for c in text:
        if c in _NAMED:
            out.append(_NAMED[c])
        elif c in _BIDI or unicodedata.category(c) in ("Cc", "Zl", "Zp"):
            code = ord(c)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        elif 0xD800 <= ord(c) <= 0xDFFF:  # lone surrogate: not printable anywhere
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)


def cell_width(text: str) -> int:
    return _cell_len(text)


def fit(text: str, width: int) -> str:
    """`text` cut to at most `width` display cells, ending in an ellipsis when cut."""
    if width <= 0 or cell_width(text) <= width:
        return text
    out = []
    used = 0
    for c in text:
        w = cell_width(c)
        if used + w > width - 1:
            break
        out.append(c)
        used += w
    return "".join(out) + ELLIPSIS


def epoch_cell(epoch: Any) -> str:
    """An epoch field (0-based) for people: counted from 1, as Keras's console counts it."""
    if epoch is None:
        return ""
    if isinstance(epoch, int) and not isinstance(epoch, bool):
        return str(conventions.console_epoch(epoch))
    return str(epoch)


@dataclass(frozen=True)
class Column:
    """One column of a table/CSV/JSON output.

    Args:
      key: the field's name in JSON and CSV.
      header: the table's header text.
      cell: the value as table text (default: `str`, "" for None).
      right: right-align in the table (numbers).
      max_width: table cells are cut to this many display cells (0: never).
    """

    key: str
    header: str
    cell: Callable[[Any], str] | None = None
    right: bool = False
    max_width: int = 0


def _table_cell(column: Column, value: Any, max_width: int | None) -> str:
    if column.cell is not None:
        text = column.cell(value)
    elif value is None:
        text = ""
    else:
        text = str(value)
    limit = column.max_width if max_width is None else max_width
    return fit(printable(text), limit)


def write_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[Column], out: TextIO, *, max_width: int | None = None
) -> None:
    """An aligned, space-separated table with a header line.

    `max_width`, when given, overrides every column's own limit (0: no limit).
    """
    cells = [[column.header for column in columns]]
    cells += [[_table_cell(column, row.get(column.key), max_width) for column in columns] for row in rows]
    widths = [max(cell_width(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        parts = []
        for i, (column, text) in enumerate(zip(columns, line, strict=True)):
            pad = " " * (widths[i] - cell_width(text))
            if column.right:
                parts.append(pad + text)
            elif i == len(columns) - 1:
                parts.append(text)  # no trailing blanks
            else:
                parts.append(text + pad)
        out.write("  ".join(parts).rstrip() + "\n")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        return strict_dumps(value)
    if isinstance(value, float):
        return conventions.nonfinite_name(value) if not math.isfinite(value) else repr(value)
    return value


def write_csv(rows: Iterable[dict[str, Any]], columns: Sequence[Column], out: TextIO) -> None:
    """CSV (RFC 4180, CRLF line ends) with a header; nested values as strict JSON; None as empty."""
    # RFC 4180's CRLF: Python's csv module quotes a field holding any character
    # of the line terminator, so with "\n" alone a lone "\r" would go out bare
    # and split the row for every reader.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([column.key for column in columns])
    for row in rows:
        writer.writerow([_csv_value(row.get(column.key)) for column in columns])


def write_json(rows: Iterable[dict[str, Any]], columns: Sequence[Column], out: TextIO) -> None:
    """One strict JSON array of objects, one object per line."""
    out.write("[")
    count = 0
    for row in rows:
        out.write(",\n" if count else "\n")
        out.write(strict_dumps({column.key: row.get(column.key) for column in columns}))
        count += 1
    out.write("\n]\n" if count else "]\n")


def write_jsonl(rows: Iterable[dict[str, Any]], columns: Sequence[Column], out: TextIO) -> None:
    """JSON Lines: one strict JSON object per line."""
    for row in rows:
        out.write(strict_dumps({column.key: row.get(column.key) for column in columns}))
        out.write("\n")


def write(
    fmt: str, rows: Sequence[dict[str, Any]], columns: Sequence[Column], out: TextIO, **table_options: Any
) -> None:
    if fmt == "table":
        write_table(rows, columns, out, **table_options)
    elif fmt == "csv":
        write_csv(rows, columns, out)
    elif fmt == "json":
        write_json(rows, columns, out)
    elif fmt == "jsonl":
        write_jsonl(rows, columns, out)
    else:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
