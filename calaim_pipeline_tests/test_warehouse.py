"""Re-runs replace a plan-month; readers holding the warehouse never fail a run."""

from __future__ import annotations

import subprocess
import sys
import time

import duckdb

from calaim_pipeline_tests.conftest import run_partition
from calaim_pipeline_tests.drops import claims, landing, write_csv, write_rosters


def _counts(data_root) -> tuple[int, int, int]:
    con = duckdb.connect(str(data_root.warehouse), read_only=True)
    try:
        return tuple(
            con.execute(
                f"SELECT count(*) FROM {t} WHERE plan_code = 'CHG' AND extract_month = '2026-09'"
            ).fetchall()[0][0]
            for t in ("encounter_lines", "encounter_rejects", "rule_results")
        )
    finally:
        con.close()


def test_rerun_replaces_the_partition(data_root, instance):
    folder = landing(data_root.root)
    write_rosters(folder)
    rows = claims(6)
    rows[3]["units"] = "0"  # one bad line: its claim (2 lines) is rejected
    write_csv(folder / "encounters.csv", rows)
    assert run_partition(instance, "CHG", "2026-09", raise_on_error=False).all_events
    first = _counts(data_root)
    assert first[:2] == (10, 2)
    run_partition(instance, "CHG", "2026-09")
    assert _counts(data_root) == first

    # A corrected extract replaces the month everywhere.
    write_csv(folder / "encounters.csv", claims(6))
    run_partition(instance, "CHG", "2026-09")
    assert _counts(data_root)[:2] == (12, 0)


def _hold_warehouse(path, seconds: float, read_only: bool) -> subprocess.Popen:
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(path)!r}, read_only={read_only})\n"
        "print('holding', flush=True)\n"
        f"time.sleep({seconds})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_reader_holding_the_warehouse_does_not_fail_a_run(data_root, instance):
    folder = landing(data_root.root)
    write_rosters(folder)
    write_csv(folder / "encounters.csv", claims(4))
    assert run_partition(instance, "CHG", "2026-09").success  # views exist now
    reader = _hold_warehouse(data_root.warehouse, 30, read_only=True)
    try:
        write_csv(folder / "encounters.csv", claims(5))
        assert run_partition(instance, "CHG", "2026-09").success
        assert _counts(data_root)[0] == 10
    finally:
        reader.kill()


def test_run_waits_for_a_lock_it_needs(data_root, instance):
    """The first run must create the views; another process holds the file for a few seconds."""
    data_root.warehouse.parent.mkdir(parents=True)
    duckdb.connect(str(data_root.warehouse)).close()
    folder = landing(data_root.root)
    write_rosters(folder)
    write_csv(folder / "encounters.csv", claims(4))
    holder = _hold_warehouse(data_root.warehouse, 4, read_only=False)
    started = time.monotonic()
    try:
        result = run_partition(instance, "CHG", "2026-09")
    finally:
        holder.wait(timeout=30)
    assert result.success
    assert time.monotonic() - started >= 2  # it waited for the holder instead of failing
    assert _counts(data_root)[0] == 8
