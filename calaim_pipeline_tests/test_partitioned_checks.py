"""Check results are stored per plan-month partition and differ as the data does."""

from __future__ import annotations

import json
import re

import dagster as dg

from calaim_pipeline_tests.conftest import run_partition
from calaim_pipeline_tests.drops import claims, landing, write_csv, write_rosters

CIN_SHAPE = re.compile(r"9\d{7}[AC-HMNT-Z]")


def _latest(instance: dg.DagsterInstance, check: str, partition: str):
    key = dg.AssetCheckKey(dg.AssetKey("encounter_lines"), check)
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
    matching = [r for r in records if r.partition == partition]
    assert matching, f"no {check} result for {partition}"
    return matching[0]


def test_two_plan_months_keep_their_own_check_results(data_root, instance):
    good = landing(data_root.root, "CHG", "2026-09")
    write_rosters(good)
    write_csv(good / "encounters.csv", claims(20))
    bad = landing(data_root.root, "LACARE", "2026-09")  # (HPSM reads through its profile)
    write_rosters(bad)
    rows = claims(20)
    for row in rows[:10]:
        row["billed_amount"] = "-1"  # 5 claims with a bad line each: 10 of 40 lines rejected
    rows = [dict(r, plan_code="LACARE") for r in rows]
    write_csv(bad / "encounters.csv", rows)

    assert run_partition(instance, "CHG", "2026-09").success
    failed_run = run_partition(instance, "LACARE", "2026-09")
    assert not failed_run.success  # a blocking ERROR check failed

    good_record = _latest(instance, "reject_rate", "2026-09|CHG")
    bad_record = _latest(instance, "reject_rate", "2026-09|LACARE")
    assert good_record.status.value == "SUCCEEDED"
    assert bad_record.status.value == "FAILED"

    evaluation = bad_record.event.dagster_event.event_specific_data
    metadata = {k: v.value for k, v in evaluation.metadata.items()}
    assert metadata["rate"] == 0.25 and metadata["threshold"] == 0.10
    top = {r.data["rule"]: r.data for r in metadata["top_rules"].records}  # a sortable table
    assert top["AMOUNT_INVALID"]["severity"] == "reject" and top["AMOUNT_INVALID"]["rows"] >= 5
    assert "C00000 @ encounters.csv:2" in top["AMOUNT_INVALID"]["examples"]  # claim @ file:line
    # The WARN checks of the good month stayed green while its neighbour's failed.
    assert _latest(instance, "validity_rate_per_family", "2026-09|CHG").status.value == "SUCCEEDED"
    assert _latest(instance, "validity_rate_per_family", "2026-09|LACARE").status.value == "FAILED"

    # No member identifier anywhere in what the instance stored for these runs.
    for run in instance.get_runs():
        for record in instance.all_logs(run.run_id):
            text = json.dumps(
                record.to_dict() if hasattr(record, "to_dict") else str(record), default=str
            )
            assert not CIN_SHAPE.search(text)
