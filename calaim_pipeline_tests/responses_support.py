"""A small plan-month cycle for the response tests: generated sample, the real plan-month job,
marked sent, answered by the DHCS simulator, ingested."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg

from calaim_pipeline import lake
from calaim_pipeline.ledger import encounter_status as es
from calaim_pipeline.responses import ingest
from calaim_pipeline.responses.cycle import answered_at
from calaim_pipeline.responses.simulator import simulate_month
from calaim_pipeline.sample import generate_sample
from calaim_pipeline.settings import DataPaths, load_plans
from calaim_pipeline.submission import ledger
from calaim_pipeline_tests.conftest import run_partition


def build_cycle(
    root: Path,
    home: Path,
    months: tuple[str, ...],
    *,
    plan_lines: dict[str, int],
    reject_share: float,
    seed: int = 5,
    answer: bool = True,
) -> DataPaths:
    """Each month in order: built by the plan-month job, marked sent, answered and ingested, so
    later months are judged and built against the earlier months' DHCS answers."""
    generate_sample(root, plan_lines=plan_lines, months=months, defect_rate=0.02, seed=seed)
    paths = DataPaths(root)
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        for month in months:
            for plan in plan_lines:
                assert run_partition(instance, plan, month).success, f"{plan} {month}"
                ledger.mark_sent(paths.lake, paths.submissions, plan, month, "test reviewer")
                if answer:
                    simulate_month(
                        paths, plan, month, reject_share=reject_share, when=answered_at(month)
                    )
                    outcomes = ingest.ingest_plan(paths, load_plans(), plan)
                    assert all(o.outcome == ingest.INGESTED for o in outcomes), outcomes
    return paths


def response_state(paths: DataPaths) -> dict[str, str]:
    """sha256 of every lake file of the response tables: unchanged means nothing was written."""
    found = {}
    for table in (es.SUBMISSION_RESPONSES, es.STATUS_HISTORY):
        for file in sorted((paths.lake / table).glob("*/*/*")):
            found[str(file.relative_to(paths.lake))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return found


def current_status(paths: DataPaths, plan: str) -> list[tuple]:
    import duckdb

    status = es.plan_status_sql(paths.lake, plan)
    assert status is not None
    return duckdb.sql(
        f"SELECT extract_month, claim_id, frequency_code, status, dhcs_icn, stc_codes "
        f"FROM ({status}) ORDER BY ALL"
    ).fetchall()


def partition(paths: DataPaths, table: str, plan: str, month: str) -> Path:
    return lake.partition_file(paths.lake, table, plan, month)
