"""Every input row ends accepted or rejected, for CSV (BOM, odd headers, broken rows), gzip and Parquet."""

from __future__ import annotations

import duckdb
import pytest

from calaim_pipeline.ingest.contract import ENCOUNTER_COLUMNS
from calaim_pipeline.lake import partition_file, read_metrics
from calaim_pipeline_tests.conftest import run_partition
from calaim_pipeline_tests.drops import claims, landing, write_csv, write_parquet, write_rosters


def _lake_rows(data_root, table: str) -> list[tuple]:
    path = partition_file(data_root.lake, table, "CHG", "2026-09")
    columns = "claim_id, line_number, source_file, source_row"
    extra = ", rule_ids, raw_text" if table == "encounter_rejects" else ""
    return duckdb.sql(
        f"SELECT {columns}{extra} FROM '{path}' ORDER BY source_file, source_row"
    ).fetchall()


def test_csv_with_bom_odd_headers_and_broken_rows_loses_nothing(data_root, instance):
    folder = landing(data_root.root)
    write_rosters(folder)
    rows = claims(10)  # 20 lines, claims C00000..C00009
    # Header in another order, upper case, padded, plus an extra column the contract does not know.
    columns = [f" {c.upper()} " for c in reversed(ENCOUNTER_COLUMNS)] + ["PLAN_INTERNAL_NOTE"]
    keyed = [
        {f" {k.upper()} ": v for k, v in r.items()} | {"PLAN_INTERNAL_NOTE": "x"} for r in rows
    ]
    path = write_csv(folder / "encounters.csv", keyed, columns, bom=True)
    lines = path.read_bytes().split(b"\r\n")  # csv writes RFC 4180 CRLF line ends
    # Physical lines: 1 header, line n + 1 holds row n (0-based). Row 7 = C00003 line 2.
    lines[8] = lines[8] + b",EXTRA"
    lines[11] = lines[11].replace(b"99213", b"99\xff13")  # row 10 = C00005 line 1: not UTF-8
    path.write_bytes(b"\r\n".join(lines))

    result = run_partition(instance, "CHG", "2026-09")
    metrics = read_metrics(data_root.lake, "CHG", "2026-09")
    assert metrics is not None, result.all_events
    file = metrics.files[0]
    assert (file.rows_read, file.accepted, file.rejected) == (20, 16, 4)
    assert file.unparseable == 2 and file.reconciles
    assert file.extra_columns == ["PLAN_INTERNAL_NOTE"]

    rejects = {(r[0], r[3]): r for r in _lake_rows(data_root, "encounter_rejects")}
    assert rejects[("C00003", 9)][4] == ["ROW_UNPARSEABLE"] and rejects[("C00003", 9)][5].endswith(
        ",EXTRA"
    )
    assert rejects[("C00005", 12)][4] == ["ROW_UNPARSEABLE"]
    # Their sibling lines are held back with the claim reason; each keeps its own physical line.
    assert rejects[("C00003", 8)][4] == ["CLAIM_HAS_REJECTED_LINE"]
    assert rejects[("C00005", 13)][4] == ["CLAIM_HAS_REJECTED_LINE"]
    accepted = _lake_rows(data_root, "encounter_lines")
    assert [(r[0], r[1], r[3]) for r in accepted[:3]] == [
        ("C00000", 1, 2),
        ("C00000", 2, 3),
        ("C00001", 1, 4),
    ]
    assert accepted[-1][3] == 21  # the last line of the file keeps its number past two broken rows


def test_gzip_and_parquet_files_reconcile(data_root, instance):
    folder = landing(data_root.root)
    write_rosters(folder)
    write_csv(folder / "encounters_a.csv.gz", claims(5, prefix="G"))
    write_parquet(folder / "encounters_b.parquet", claims(4, prefix="Q", first_day=40))
    run_partition(instance, "CHG", "2026-09")
    metrics = read_metrics(data_root.lake, "CHG", "2026-09")
    by_file = {f.file: f for f in metrics.files}
    assert (
        by_file["encounters_a.csv.gz"].rows_read,
        by_file["encounters_a.csv.gz"].accepted,
    ) == (10, 10)
    assert (
        by_file["encounters_b.parquet"].rows_read,
        by_file["encounters_b.parquet"].accepted,
    ) == (8, 8)
    rows = _lake_rows(data_root, "encounter_lines")
    parquet_rows = [r for r in rows if r[2] == "encounters_b.parquet"]
    assert [r[3] for r in parquet_rows] == list(range(2, 10))


@pytest.mark.parametrize("previous_run", [False, True])
def test_missing_required_column_fails_partition_and_writes_nothing(
    data_root, instance, previous_run
):
    folder = landing(data_root.root)
    write_rosters(folder)
    if previous_run:
        write_csv(folder / "encounters.csv", claims(3))
        assert run_partition(instance, "CHG", "2026-09").success
        before = partition_file(data_root.lake, "encounter_lines", "CHG", "2026-09").read_bytes()
    columns = [c for c in ENCOUNTER_COLUMNS if c != "paid_amount"]
    write_csv(folder / "encounters.csv", claims(3), columns)

    result = run_partition(instance, "CHG", "2026-09")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "encounters.csv" in message and "paid_amount" in message
    lines_file = partition_file(data_root.lake, "encounter_lines", "CHG", "2026-09")
    if previous_run:
        assert lines_file.read_bytes() == before  # the earlier partition stands untouched
    else:
        assert not lines_file.exists()
        assert read_metrics(data_root.lake, "CHG", "2026-09") is None
    assert list(data_root.work.iterdir()) == [], "scratch files left behind"


def test_unreadable_file_fails_with_its_name_and_no_member_data(data_root, instance):
    folder = landing(data_root.root)
    write_rosters(folder)
    path = write_csv(folder / "encounters.csv", claims(3))
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3] + b",EXTRA"  # a bare CR inside a record: DuckDB cannot resynchronise
    path.write_bytes(b"\n".join(lines))

    result = run_partition(instance, "CHG", "2026-09")
    assert not result.success
    message = next(
        e for e in result.all_events if e.is_step_failure
    ).step_failure_data.error.message
    assert "encounters.csv" in message and "cannot be parsed" in message
    assert "91234567A" not in message and "JANE" not in message
    assert not partition_file(data_root.lake, "encounter_lines", "CHG", "2026-09").exists()


def test_line_numbers_stay_exact_in_a_badly_broken_file(data_root, instance):
    """Past 256 unparseable rows a file takes the ASOF lookup path; numbers must not drift."""
    folder = landing(data_root.root)
    write_rosters(folder)
    rows = claims(90, lines_per_claim=4)  # 360 lines; claim n = lines 4n+2 .. 4n+5
    path = write_csv(folder / "encounters.csv", rows)
    lines = path.read_bytes().split(b"\r\n")
    broken = set(range(2, 362, 4)) | set(range(3, 362, 4)) | set(range(4, 362, 4)) | {5}
    for number in sorted(broken):  # 271 broken rows: the first three lines of every claim, + one
        lines[number - 1] += b",EXTRA"
    path.write_bytes(b"\r\n".join(lines))

    run_partition(instance, "CHG", "2026-09")
    metrics = read_metrics(data_root.lake, "CHG", "2026-09")
    assert metrics.unparseable == len(broken) > 256
    rejects = _lake_rows(data_root, "encounter_rejects")
    assert sorted(r[3] for r in rejects) == list(range(2, 362))  # every line accounted for, once
    parsed = {r[3]: r for r in rejects if r[4] == ["CLAIM_HAS_REJECTED_LINE"]}
    assert sorted(parsed) == sorted(set(range(2, 362)) - broken)
    for line, row in parsed.items():  # the 4th line of claim n sits on physical line 4n + 5
        assert row[0] == f"C{(line - 5) // 4:05d}" and row[1] == "4"  # rejects keep raw text
