"""source_row is the exact physical line (header = 1) of a record's first line (issue 9, item 5).

The files are written here byte by byte, and each row's physical line is counted while writing
(newlines before it + 1), independently of the reader. A record that takes more than one line
(a quoted field holding a line break, or an unterminated quote swallowing the lines after it)
must not shift the numbers of the rows after it, in CSV and in CSV.gz.
"""

from __future__ import annotations

import csv
import gzip
import io

import duckdb
import pytest

from calaim_pipeline.ingest.contract import ENCOUNTER_COLUMNS
from calaim_pipeline.lake import partition_file
from calaim_pipeline_tests.conftest import run_partition
from calaim_pipeline_tests.drops import claims, landing, write_rosters

PLAN, MONTH = "CHG", "2026-09"
NOTE = "plan_note"  # a column the contract does not know: read, ignored, reported
FORMATS = [("csv", "\n"), ("csv.gz", "\r\n")]


class PhysicalFile:
    """Writes CSV text and remembers the physical line each row starts on."""

    def __init__(self, columns: list[str], newline: str) -> None:
        self.newline = newline
        self.text = io.StringIO()
        self.lines: dict[tuple[str, str], int] = {}  # (claim_id, line_number) -> physical line
        self.raw(",".join(columns))

    def raw(self, record: str, key: tuple[str, str] | None = None) -> None:
        if key is not None:
            self.lines[key] = self.text.getvalue().count("\n") + 1
        self.text.write(record + self.newline)

    def row(self, values: dict[str, str], note: str = "") -> None:
        self.raw(csv_text([values[c] for c in ENCOUNTER_COLUMNS] + [note]), key(values))

    def save(self, folder, suffix: str) -> None:
        data = self.text.getvalue().encode("utf-8")
        path = folder / f"encounters.{suffix}"
        path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)


def csv_text(fields: list[str]) -> str:
    """One record as CSV text without its line end (quoted where RFC 4180 needs it)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue().removesuffix("\n")


def key(row: dict[str, str]) -> tuple[str, str]:
    return row["claim_id"], row["line_number"]


def rows_by_line(data_root) -> dict[int, tuple]:
    """physical line -> (claim id, line number, rule ids) of every row the month wrote."""
    found = {}
    for table in ("encounter_lines", "encounter_rejects"):
        path = partition_file(data_root.lake, table, PLAN, MONTH)
        rules = "rule_ids" if table == "encounter_rejects" else "[]"
        for claim, line, row, rule_ids in duckdb.sql(
            f"SELECT claim_id, CAST(line_number AS VARCHAR), source_row, {rules} FROM '{path}'"
        ).fetchall():
            assert row not in found, f"line {row} written twice"
            found[row] = (claim, line, rule_ids)
    return found


def clean_rows(count: int) -> list[dict[str, str]]:
    """Claims of 2 lines whose text needs no quotes (a single diagnosis pointer)."""
    return [dict(r, diagnosis_pointers="1") for r in claims(count)]


@pytest.mark.parametrize("suffix, newline", FORMATS)
def test_line_numbers_exact_after_a_multi_line_unparseable_record(
    data_root, instance, suffix, newline
):
    folder = landing(data_root.root, PLAN, MONTH)
    write_rosters(folder)
    rows = clean_rows(60)  # 120 lines: C00000..C00059
    out = PhysicalFile([*ENCOUNTER_COLUMNS, NOTE], newline)
    for i, row in enumerate(rows):
        fields = csv_text([row[c] for c in ENCOUNTER_COLUMNS])
        if i == 20:  # C00010 line 1 opens a quote nothing closes until row 24's quoted note
            out.raw(fields + ',"unterminated note', key(row))
        elif i == 24:  # closes it; the text after the closing quote ends the broken record
            out.raw(fields + ',"closing" note', key(row))
        else:
            out.row(row)
    out.save(folder, suffix)
    run_partition(instance, PLAN, MONTH)

    written = rows_by_line(data_root)
    swallowed = {out.lines[(r["claim_id"], r["line_number"])] for r in rows[21:25]}
    broken = out.lines[("C00010", "1")]
    assert written.pop(broken) == ("C00010", None, ["ROW_UNPARSEABLE"])
    for (claim, line), physical in out.lines.items():
        if physical in swallowed or physical == broken:
            continue  # inside the broken record, whose raw text keeps them
        assert written.pop(physical)[:2] == (claim, line), f"line {physical}"
    assert written == {}
    # Every claim that had a line in the broken record is held back whole (claim ids are read
    # from each of its physical lines), so no claim goes out without one of its lines.
    accepted = {
        c
        for (c,) in duckdb.sql(
            f"SELECT DISTINCT claim_id FROM '{partition_file(data_root.lake, 'encounter_lines', PLAN, MONTH)}'"
        ).fetchall()
    }
    assert accepted.isdisjoint({"C00010", "C00011", "C00012"})
    assert len(accepted) == 57


@pytest.mark.parametrize("suffix, newline", FORMATS)
def test_line_numbers_exact_after_a_quoted_field_holding_a_newline(
    data_root, instance, suffix, newline
):
    folder = landing(data_root.root, PLAN, MONTH)
    write_rosters(folder, members=4)
    members = (folder / "members.csv").read_text(encoding="utf-8").splitlines()
    # The second member's address holds a line break: the members after it move down a line.
    members[2] = members[2].replace("1 MAIN ST", '"1 MAIN ST\nAPT 2"')
    (folder / "members.csv").write_text("\n".join(members) + "\n", encoding="utf-8")
    rows = clean_rows(40)
    out = PhysicalFile([*ENCOUNTER_COLUMNS, NOTE], newline)
    for i, row in enumerate(rows):
        note = "first line\nsecond line" if i in (5, 30) else ""
        if i == 50:
            row = dict(row, billed_amount="-1")  # a rejected row after the breaks
        out.row(row, note)
    out.save(folder, suffix)
    assert run_partition(instance, PLAN, MONTH).success

    written = rows_by_line(data_root)
    assert {line: (claim, number) for line, (claim, number, _) in written.items()} == {
        physical: key for key, physical in out.lines.items()
    }
    members_file = partition_file(data_root.lake, "members", PLAN, MONTH)
    assert duckdb.sql(f"SELECT source_row FROM '{members_file}' ORDER BY 1").fetchall() == [
        (2,),
        (3,),
        (5,),
        (6,),
    ]
    rejected = sorted(tuple(r) for _, _, r in written.values() if r)
    assert rejected == [("AMOUNT_INVALID",), ("CLAIM_HAS_REJECTED_LINE",)]
