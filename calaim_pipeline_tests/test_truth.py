"""The pipeline's verdict on generated data matches the generator's truth file exactly."""

from __future__ import annotations

import duckdb
import pytest

from calaim_pipeline.catalog import load_rules
from calaim_pipeline.lake import read_metrics
from calaim_pipeline.sample import generate_sample
from calaim_pipeline.sample.incidents import DEMO_INCIDENTS
from calaim_pipeline_tests.conftest import run_partition
from calaim_pipeline_tests.truth import mismatches, truth_rule_ids

MONTHS = ("2026-06", "2026-07", "2026-08", "2026-09")
SIZES = {"CHG": 500, "HPSM": 1200, "LACARE": 3000}


def test_every_injected_defect_is_caught_with_its_rule_and_nothing_else(
    data_root, instance, monkeypatch
):
    monkeypatch.delenv("CALAIM_CONFIG_DIR", raising=False)  # the bundled config and its profile
    # With the bundled sample's incidents (CHG 2026-08 duplicates, CHG 2026-09 ICD-10 categories):
    # the months that warn or fail by design are judged line by line like the others.
    summary = generate_sample(
        data_root.root,
        plan_lines=SIZES,
        months=MONTHS,
        defect_rate=0.08,
        seed=7,
        incidents=DEMO_INCIDENTS,
    )
    # The truth covers every rule the pipeline decides on encounter lines: not the ledger rules
    # (issue #3), nor the roster rules, which judge roster rows (the truth lists encounter lines;
    # their effect on lines is covered by MEMBER_/BILLING_PROVIDER_ON_REJECTED_ROSTER_ROW).
    decided_here = {r.id for r in load_rules() if r.stage not in ("ledger", "roster")}
    assert truth_rule_ids(data_root.root) == decided_here

    for month in MONTHS:  # oldest first, so the volume check has history
        for plan in SIZES:
            run_partition(instance, plan, month)
            assert mismatches(data_root.root, plan, month) == [], f"{plan} {month}"
            metrics = read_metrics(data_root.lake, plan, month)
            expected = summary[f"{plan}/{month}"]
            assert metrics.rows_read == expected["lines"]
            # HPSM lands in its claims system's shape and is read through the shipped profile:
            # the same defects, judged through the mapping, match the same truth file.
            assert metrics.profile == expected.get("profile")
            assert metrics.profile == ("hpsm_pipe" if plan == "HPSM" else None)
            assert metrics.rejected == expected["rows_rejected"]
            assert all(f.reconciles for f in metrics.files)


def test_clean_rows_are_accepted_untouched(data_root, instance):
    """No clean row rejected: with no defects injected, every line is accepted and none is flagged."""
    generate_sample(
        data_root.root, plan_lines={"HPSM": 1500}, months=("2026-08", "2026-09"), defect_rate=0.0
    )
    for month in ("2026-08", "2026-09"):
        assert run_partition(instance, "HPSM", month).success
        metrics = read_metrics(data_root.lake, "HPSM", month)
        assert metrics.rows_read == 1500 and metrics.rejected == 0
        assert metrics.accepted_with_warnings == 0


@pytest.mark.parametrize("file_format", ["csv.gz", "parquet"])
def test_other_formats_match_truth_and_reconcile_per_file(data_root, instance, file_format):
    generate_sample(
        data_root.root,
        plan_lines={"CHG": 800},
        months=("2026-09",),
        defect_rate=0.1,
        file_format=file_format,
        files_per_month=2,
        seed=11,
    )
    run_partition(instance, "CHG", "2026-09")
    assert mismatches(data_root.root, "CHG", "2026-09") == []
    metrics = read_metrics(data_root.lake, "CHG", "2026-09")
    assert len(metrics.files) == 2
    for file in metrics.files:
        assert file.rows_read == file.accepted + file.rejected > 0
    con = duckdb.connect(str(data_root.warehouse), read_only=True)
    lines = con.execute("SELECT count(*) FROM encounter_lines").fetchall()[0][0]
    assert lines == metrics.accepted
