"""Nothing bypasses the submission gate, landing reads nothing from outside the data root, and bad
command-line values get one clear line (issue 9, items 1, 2 and 6)."""

from __future__ import annotations

import os
from datetime import date

import dagster as dg
import pytest

from calaim_pipeline import lake
from calaim_pipeline.cli import main
from calaim_pipeline.ingest.landing import landed_plan_months
from calaim_pipeline.settings import load_plans
from calaim_pipeline.submission import ledger
from calaim_pipeline_tests.conftest import run_partition
from calaim_pipeline_tests.drops import claims, landing, write_csv, write_rosters

SUBMISSION = dg.AssetKey("submission")
_CURRENT_MONTH = date.today().strftime("%Y-%m")  # not over yet: no extract can exist


def _drop(root, rows, plan: str = "CHG", month: str = "2026-09"):
    folder = landing(root, plan, month)
    write_rosters(folder)
    write_csv(folder / "encounters.csv", [dict(r, plan_code=plan) for r in rows])
    return folder


def _failing_rows():
    rows = claims(20)
    for row in rows[:10]:
        row["billed_amount"] = "-1"  # a quarter of the lines rejected: reject_rate fails (ERROR)
    return rows


def _materialize_submission_alone(instance, plan: str = "CHG", month: str = "2026-09"):
    """What the UI's Materialize button, a backfill of `submission` or `dagster asset materialize
    --select submission` runs: the submission asset in a run of its own."""
    from calaim_pipeline.definitions import defs
    from calaim_pipeline.defs.partitions import plan_month_key

    job = defs().resolve_implicit_global_asset_job_def().get_subset(asset_selection={SUBMISSION})
    return job.execute_in_process(
        partition_key=plan_month_key(plan, month), instance=instance, raise_on_error=False
    )


def _failure_text(result) -> str:
    return "\n".join(
        e.step_failure_data.error.message for e in result.all_events if e.is_step_failure
    )


def test_submission_alone_on_a_failing_month_builds_nothing_and_mark_sent_refuses(
    data_root, instance, capsys
):
    _drop(data_root.root, _failing_rows())
    assert not run_partition(instance, "CHG", "2026-09").success  # reject_rate fails

    alone = _materialize_submission_alone(instance)
    assert not alone.success
    message = _failure_text(alone)
    assert "CHG 2026-09: submission refused: blocking check(s) failed: reject_rate" in message
    assert not (data_root.submissions / "CHG" / "2026-09").exists()
    assert ledger.month_status(data_root.lake, "CHG", "2026-09") is None
    assert instance.get_materialized_partitions(SUBMISSION) == set()

    args = ["mark-sent", "--plan", "CHG", "--month", "2026-09", "--reviewed-by", "QA lead"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "not marked sent: blocking check(s) failed: reject_rate" in err


def test_files_come_only_from_the_judgement_the_checks_passed_on(data_root, instance, capsys):
    """A month built from a passing judgement, then re-judged alone (validation without its
    checks) on a failing extract: neither a submission-only build nor mark-sent may proceed."""
    from calaim_pipeline.definitions import defs
    from calaim_pipeline.defs.partitions import plan_month_key

    folder = _drop(data_root.root, claims(20))
    assert run_partition(instance, "CHG", "2026-09").success
    built = {p.name: p.read_bytes() for p in (data_root.submissions / "CHG" / "2026-09").iterdir()}

    write_csv(folder / "encounters.csv", [dict(r, plan_code="CHG") for r in _failing_rows()])
    validate_only = (
        defs()
        .resolve_implicit_global_asset_job_def()
        .get_subset(
            # Every asset validate_plan_month makes (it is not subsettable), none of its checks.
            asset_selection=set(defs().resolve_assets_def("encounter_lines").keys),
            asset_check_selection=set(),
        )
    )
    assert validate_only.execute_in_process(
        partition_key=plan_month_key("CHG", "2026-09"), instance=instance
    ).success

    alone = _materialize_submission_alone(instance)
    assert not alone.success
    assert "have not been evaluated on its current judgement" in _failure_text(alone)
    files = {p.name: p.read_bytes() for p in (data_root.submissions / "CHG" / "2026-09").iterdir()}
    assert files == built  # nothing rebuilt from the unchecked judgement

    args = ["mark-sent", "--plan", "CHG", "--month", "2026-09", "--reviewed-by", "QA lead"]
    assert main(args) == 1
    assert "not marked sent" in capsys.readouterr().err
    assert ledger.sent_status(data_root.lake, "CHG", "2026-09") is None


def test_passing_month_built_alone_after_its_checks_is_allowed(data_root, instance):
    _drop(data_root.root, claims(10))
    assert run_partition(instance, "CHG", "2026-09").success
    again = _materialize_submission_alone(instance)
    assert again.success  # same judgement, checks passed: kept as built ("unchanged")
    (event,) = [
        e.materialization
        for e in again.get_asset_materialization_events()
        if e.asset_key == SUBMISSION
    ]
    assert event.metadata["status"].value == "unchanged"


@pytest.mark.parametrize("name", ["encounters.csv", "members.csv", "providers.csv"])
def test_a_file_linked_from_outside_the_data_root_is_refused_and_nothing_is_read(
    data_root, instance, tmp_path, name
):
    folder = _drop(data_root.root, claims(5))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    target = outside / name
    (folder / name).rename(target)
    os.symlink(target, folder / name)

    result = run_partition(instance, "CHG", "2026-09")
    assert not result.success
    assert f"CHG/2026-09/{name}: refused, a link to a file outside the data root" in (
        _failure_text(result)
    )
    assert not lake.partition_file(data_root.lake, "encounter_lines", "CHG", "2026-09").exists()
    assert not lake.partition_file(data_root.lake, "members", "CHG", "2026-09").exists()
    _, refused = landed_plan_months(data_root, load_plans().codes)
    assert refused == [f"CHG/2026-09/{name}: a link to a file outside the data root"]


def test_a_link_inside_the_data_root_is_read(data_root, instance):
    folder = _drop(data_root.root, claims(5))
    kept = data_root.root / "archive" / "encounters.csv"
    kept.parent.mkdir()
    (folder / "encounters.csv").rename(kept)
    os.symlink(kept, folder / "encounters.csv")
    assert run_partition(instance, "CHG", "2026-09").success


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--month", "2026-13"], "month '2026-13' is not a month: use YYYY-MM"),
        (["run", "--month", "../../x"], "month '../../x' is not a month: use YYYY-MM"),
        (["run", "--month", "2026-9"], "month '2026-9' is not a month: use YYYY-MM"),
        (["run", "--month", "Sept"], "month 'Sept' is not a month: use YYYY-MM"),
        (["run", "--month", "2099-01"], "month '2099-01' is not an extract month that can run"),
        (["run", "--plan", "ACME"], "--plan 'ACME': not a configured plan code; use one of"),
        (["generate", "--months", "2026-9"], "month '2026-9' is not a month: use YYYY-MM"),
        (
            ["mark-sent", "--plan", "CHG", "--month", "2026-13", "--reviewed-by", "x"],
            "month '2026-13' is not a month",
        ),
        (
            ["mark-sent", "--plan", "ACME", "--month", "2026-09", "--reviewed-by", "x"],
            "--plan 'ACME': not a configured plan code",
        ),
        (["run", "--month", _CURRENT_MONTH], f"month '{_CURRENT_MONTH}' is not an extract month"),
        (["generate", "--months", "Sept"], "month 'Sept' is not a month: use YYYY-MM"),
        (["generate", "--months", "1990-01"], "month '1990-01' is too early for the sample"),
        (["generate", "--lines", "5", "--plans", "ACME"], "--plans 'ACME': not a configured plan"),
        (["generate", "--lines", "0"], "--lines 0: use a positive number"),
        (["generate", "--defect-rate", "2"], "defect_rate must be within [0, 1]"),
    ],
)
def test_a_bad_argument_gets_one_line_and_exit_2(data_root, capsys, argv, expected):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and expected in lines[0], captured.err
    assert "Traceback" not in captured.err
