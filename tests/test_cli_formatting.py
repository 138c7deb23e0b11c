"""Property tests of the CLI's output formats on arbitrary text and numbers."""

from __future__ import annotations

import csv
import io
import json
import math
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from tb_callbacks_plugin.cli import formatting
from tb_callbacks_plugin.cli.formatting import Column

# Any text an event file can hold, lone surrogates included (the writer
# encodes with surrogatepass and the reader gives them back).
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
NUMBER = st.floats(allow_nan=True, allow_infinity=True)
DATA = st.dictionaries(
    st.text(max_size=8), st.one_of(NUMBER, TEXT, st.none(), st.lists(NUMBER, max_size=3)), max_size=4
)
ROW = st.fixed_dictionaries({"name": TEXT, "value": NUMBER, "data": DATA, "missing": st.none()})
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
COLUMNS = [
    Column("name", "NAME"),
    Column("value", "VALUE", right=True),
    Column("data", "DATA"),
    Column("missing", "M"),
]


def same(a, b):
    """Equality where NaN equals NaN (JSON turns it into "NaN")."""
    if isinstance(a, float) and math.isnan(a):
        return b == "NaN"
    if isinstance(a, float) and math.isinf(a):
        return b == ("Infinity" if a > 0 else "-Infinity")
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def refuse_constants(name):
    raise ValueError(f"non-standard JSON constant {name}")


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, max_size=5))
def test_json_and_jsonl_are_strict_and_exact(rows):
    out = io.StringIO()
    formatting.write_json(rows, COLUMNS, out)
    parsed = json.loads(out.getvalue(), parse_constant=refuse_constants)
    assert len(parsed) == len(rows) and all(same(r, p) for r, p in zip(rows, parsed, strict=True))
    out = io.StringIO()
    formatting.write_jsonl(rows, COLUMNS, out)
    lines = out.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == len(rows) + 1  # a newline in text never splits a record
    assert all(
        same(r, json.loads(line, parse_constant=refuse_constants))
        for r, line in zip(rows, lines, strict=False)
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, max_size=5))
def test_csv_round_trips_text_and_data(rows):
    out = io.StringIO()
    formatting.write_csv(rows, COLUMNS, out)
    parsed = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert len(parsed) == len(rows)
    for row, got in zip(rows, parsed, strict=True):
        assert got["name"] == row["name"]
        assert same(row["value"], got["value"]) or float(got["value"]) == row["value"]
        assert same(row["data"], json.loads(got["data"], parse_constant=refuse_constants))
        assert got["missing"] == ""


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=5), st.sampled_from([None, 0, 5]))
def test_table_keeps_one_line_per_row_and_aligns(rows, max_width):
    out = io.StringIO()
    formatting.write_table(rows, COLUMNS, out, max_width=max_width)
    lines = out.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == len(rows) + 2
    for line in lines[:-1]:
        # Nothing that moves the cursor, ends a line or reorders text reaches the terminal.
        assert not [c for c in line if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in BIDI]
    # Every row's VALUE column ends at the same display column (right-aligned).
    header = lines[0]
    value_end = formatting.cell_width(header[: header.index("VALUE") + len("VALUE")])
    for line, row in zip(lines[1:], rows, strict=False):
        cell = formatting.fit(formatting.printable(str(row["value"])), max_width or 0)
        # The same text may also be in another cell (a NAME of "0.0"): one occurrence ends there.
        starts = [i for i in range(len(line)) if line.startswith(cell, i)]
        assert value_end in [formatting.cell_width(line[: at + len(cell)]) for at in starts]


def test_printable_escapes_what_would_break_a_terminal():
    assert formatting.printable("a\nb\tc\x1b[2J\u202eevil\u2028") == "a\\nb\\tc\\x1b[2J\\u202eevil\\u2028"
    assert formatting.printable("日本語 🚀 ünï") == "日本語 🚀 ünï"
    assert formatting.fit("日本語日本語", 7) == "日本語…"
    assert formatting.cell_width(formatting.fit("abcdefghij", 5)) == 5
