"""Physical line numbering of staged CSV records (ingest/lines.py), edge cases on small real files.

Each data row's first field is the physical line the test wrote it on, counted while writing, so
the numbers the reader computes are compared with an independent count. Real DuckDB staging; the
Dagster runs in test_line_numbers.py cover the end-to-end outputs.
"""

from __future__ import annotations

import gzip

import duckdb
import pytest

from calaim_pipeline.ingest.reader import SHIFT_BUCKET, shift_bucket_table, stage_csv
from calaim_pipeline.validation.sql import source_row_sql

COLUMNS = ("line", "b", "c")


def write(tmp_path, parts: list[str], suffix: str = "csv", newline: str = "\n"):
    """parts: record texts; '{n}' in a part becomes the physical line it starts on."""
    text = "line,b,c" + newline
    for part in parts:
        number = text.count("\n") + 1
        text += part.replace("{n}", str(number)) + newline
    data = text.encode("utf-8")
    path = tmp_path / f"f.{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith("gz") else data)
    return path


def staged_lines(tmp_path, path) -> tuple[list[tuple[str, int]], list[tuple[int, str]]]:
    """([(first field, computed line)] of accepted records, [(line, raw text)] of rejected)."""
    con = duckdb.connect()
    staged = stage_csv(con, path, 0, tmp_path / "s.parquet", (), COLUMNS)
    con.register("_sb", shift_bucket_table([staged]))
    con.execute("CREATE TABLE sb AS SELECT * FROM _sb")
    accepted = con.execute(
        f"SELECT l.line, {source_row_sql()} FROM (SELECT *, file_row_number AS record "
        f"FROM read_parquet('{staged.staged_path}', file_row_number=true)) l "
        f"LEFT JOIN sb ON sb.file_index = 0 AND sb.bucket = l.record // {SHIFT_BUCKET} "
        "ORDER BY l.record"
    ).fetchall()
    return accepted, [(u["line"], u["raw_text"]) for u in staged.unparseable]


def assert_exact(accepted: list[tuple[str, int]]) -> None:
    assert accepted and all(int(marker) == line for marker, line in accepted), accepted


@pytest.mark.parametrize("suffix, newline", [("csv", "\n"), ("csv", "\r\n"), ("csv.gz", "\n")])
def test_blank_lines_are_skipped_but_counted(tmp_path, suffix, newline):
    parts = ["{n},x,y", "", "{n},x,y", "{n},x,y,extra", "", "", "{n},x,y", ""]  # and one at the end
    path = write(tmp_path, parts, suffix, newline)
    accepted, rejected = staged_lines(tmp_path, path)
    assert_exact(accepted)
    assert [line for line, _ in rejected] == [5]


def test_unterminated_quote_to_the_end_of_the_file(tmp_path):
    path = write(tmp_path, ["{n},x,y", '{n},"open,y', "{n},x,y", "{n},x,y"])
    accepted, rejected = staged_lines(tmp_path, path)
    assert_exact(accepted)
    assert rejected == [(3, '3,"open,y\n4,x,y\n5,x,y')]


def test_text_after_a_closing_quote_ends_the_broken_record_at_that_line(tmp_path):
    # Line 3 opens a quote; line 5's first quote closes it and "z" follows: DuckDB skips to the
    # end of line 5 and reads on from line 6.
    path = write(tmp_path, ["{n},x,y", '{n},"open,y', "{n},x,y", '{n},"z" tail,y', "{n},x,y"])
    accepted, rejected = staged_lines(tmp_path, path)
    assert_exact(accepted)
    assert [(line, raw.count("\n")) for line, raw in rejected] == [(3, 2)]


def test_quoted_line_breaks_in_accepted_and_rejected_records(tmp_path):
    path = write(
        tmp_path,
        ['{n},"a\nb",y', '{n},"a\n\nb",y,extra', "{n},x,y", '{n},"x ""quoted""",y', "{n},x,y"],
        newline="\r\n",
    )
    accepted, rejected = staged_lines(tmp_path, path)
    assert_exact(accepted)
    assert [line for line, _ in rejected] == [4]


def test_a_long_broken_record_keeps_its_whole_raw_text(tmp_path):
    long_value = "v" * 30_000  # DuckDB's reject table keeps 10,000 characters of a record
    path = write(tmp_path, ["{n},x,y", f"{{n}},{long_value},y,extra", "{n},x,y"])
    accepted, rejected = staged_lines(tmp_path, path)
    assert_exact(accepted)
    ((line, raw),) = rejected
    assert line == 3 and raw == f"3,{long_value},y,extra"


def test_many_records_across_buckets(tmp_path):
    """Breaks in several 4096-record buckets, and a bucket with no break after a shift."""
    parts = []
    for i in range(3 * SHIFT_BUCKET):
        parts.append('{n},"two\nlines",y' if i % 1000 == 7 else "{n},x,y")
        if i % 2500 == 3:
            parts.append("{n},x,y,extra")
    accepted, rejected = staged_lines(tmp_path, write(tmp_path, parts))
    assert len(accepted) == 3 * SHIFT_BUCKET
    assert_exact(accepted)
    assert len(rejected) == 5
