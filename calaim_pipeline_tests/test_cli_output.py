"""`calaim run` speaks to people (issue 11): stages as they run, one-line verdicts for the expected
outcomes (a failing blocking check, a sent month, a missing folder, an unchanged month), next steps
that fit, Dagster's logs and stack traces only with --verbose (and always in the event log)."""

from __future__ import annotations

import re

import dagster as dg
import pytest

from calaim_pipeline.cli import main
from calaim_pipeline.console import summary
from calaim_pipeline.console.outcomes import FAILED, HELD, PASSED, SENT, WARNED, MonthOutcome
from calaim_pipeline.submission import ledger
from calaim_pipeline_tests.drops import claims, landing, write_csv, write_rosters

DAGSTER_NOISE = ("Traceback", "Stack Trace", " - ERROR - ", "STEP_FAILURE", "dagster._core")


@pytest.fixture
def home(data_root, monkeypatch):
    """The instance `calaim run` records into (<data root>/dagster_home); restored afterwards."""
    path = data_root.root / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    return path


def _drop(root, rows, month: str = "2026-09"):
    folder = landing(root, "CHG", month)
    write_rosters(folder)
    write_csv(folder / "encounters.csv", rows)
    return folder


def _failing_rows():
    rows = claims(20)
    for row in rows[:10]:
        row["billed_amount"] = "-1"  # a quarter of the lines rejected: reject_rate fails
    return rows


def _run(capfd, *argv: str) -> tuple[int, str, str]:
    code = main(["run", "--plan", "CHG", *argv])
    out, err = capfd.readouterr()
    return code, out, err


def test_a_failing_month_is_one_verdict_without_verbose_and_dagster_logs_with_it(
    data_root, home, capfd
):
    _drop(data_root.root, _failing_rows())

    code, out, err = _run(capfd, "--month", "2026-09")
    assert code == 1  # schedulers see a month that needs a person
    assert err == ""
    assert not [n for n in DAGSTER_NOISE if n in out]
    # The stages as they ran, from the run's own events, each with its time.
    progress = next(line for line in out.splitlines() if line.startswith("[1/1] CHG 2026-09:"))
    stages = re.findall(r"(staging|judging|writing|checks|scorecard|837 files) \d+\.\ds", progress)
    assert stages[:3] == ["staging", "judging", "writing"]
    assert {"checks", "scorecard"} <= set(stages) and "837 files" not in stages
    assert progress.endswith("s") and "-> FAILED in" in progress
    row = next(line for line in out.splitlines() if line.startswith("CHG      2026-09"))
    assert re.search(r"FAILED reject_rate: 10 of 40 lines rejected \(25\.00%.*files held back", row)
    steps = out[out.index("Next steps") :]
    assert "Catalog → encounter_lines → Checks → reject_rate → Partitions → 2026-09 → CHG" in steps
    assert f"{data_root.landing / 'CHG' / '2026-09'}/" in steps
    assert "calaim run --month 2026-09 --plan CHG" in steps
    assert "mark-sent" not in steps  # nothing is ready to send

    # Everything Dagster knows is still in the instance's event log (the UI shows it).
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        failures = [
            e
            for e in instance.all_logs(run.run_id)
            if e.dagster_event is not None and e.dagster_event.is_step_failure
        ]
        assert failures and failures[0].dagster_event.step_failure_data.error.stack

    code, out, err = _run(capfd, "--month", "2026-09", "--verbose", "--allow-failed-checks")
    assert code == 0  # the only problem is the failed check: allowed
    assert "STEP_FAILURE" in err and " - ERROR - " in err and "Stack Trace" in err
    assert "FAILED reject_rate" in out


def test_expected_outcomes_are_one_line_verdicts(data_root, home, capfd):
    _drop(data_root.root, claims(10, first_day=75))  # served in August: paid in time

    # A month named without a landing folder, and a month that passes.
    code, out, err = _run(capfd, "--month", "2026-08,2026-09")
    assert code == 1 and err == ""
    assert not [n for n in DAGSTER_NOISE if n in out]
    missing = next(line for line in out.splitlines() if line.startswith("CHG      2026-08"))
    assert "ERROR: " in missing and str(data_root.landing / "CHG" / "2026-08") in missing
    assert "CHG 2026-08: CHG 2026-08" not in out
    passed = next(line for line in out.splitlines() if line.startswith("CHG      2026-09"))
    assert "ok: all checks pass; files built (837P 10 claims)" in passed
    assert "CHG 2026-08 did not complete:" in out
    assert 'mark-sent --plan CHG --month 2026-09 --reviewed-by "Your Name"' in out

    # `calaim sql`: the guides' queries without Python; a bad one is one line, exit 2.
    assert main(["sql", "SELECT count(*) AS accepted FROM encounter_lines"]) == 0
    out, err = capfd.readouterr()
    assert "accepted" in out and "20" in out and err == ""
    assert main(["sql", "SELECT nope FROM encounter_lines"]) == 2
    out, err = capfd.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "nope" in err and "Traceback" not in err

    # Unchanged: same files, rules and thresholds keep the files and control numbers.
    code, out, err = _run(capfd, "--month", "2026-09")
    assert code == 0 and err == ""
    assert "ok: all checks pass; files kept unchanged (837P 10 claims)" in out

    # Sent: final, told in one line, not run (no refused run in the instance).
    assert main(["mark-sent", "--plan", "CHG", "--month", "2026-09", "--reviewed-by", "QA"]) == 0
    capfd.readouterr()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs_before = len(instance.get_runs())
    code, out, err = _run(capfd, "--month", "2026-09")
    assert code == 1 and err == ""
    row = next(line for line in out.splitlines() if line.startswith("CHG      2026-09"))
    assert re.search(r"sent: marked sent on \d{4}-\d\d-\d\d by QA: final, not run again", row)
    assert "docs/data-engineers.md#correct-a-sent-month" in out
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert len(instance.get_runs()) == runs_before
    assert ledger.sent_status(data_root.lake, "CHG", "2026-09") is not None


def _outcome(status: str, month: str = "2026-09") -> MonthOutcome:
    return MonthOutcome("CHG", month, status, "x")


@pytest.mark.parametrize(
    ("statuses", "allowed", "code"),
    [
        ([PASSED, WARNED], False, 0),
        ([PASSED, HELD], False, 1),
        ([PASSED, HELD], True, 0),
        ([HELD, FAILED], True, 1),
        ([SENT], True, 1),
    ],
)
def test_exit_code_for_schedulers(statuses, allowed, code):
    outcomes = [_outcome(s, f"2026-0{i + 1}") for i, s in enumerate(statuses)]
    assert summary.exit_code(outcomes, allowed) == code


def test_generate_has_the_demo_incidents_only_for_the_bundled_sample(data_root, capfd):
    """Sized data (--lines: benchmarks, load tests) has no incident unless asked for."""
    sized = ["generate", "--lines", "60", "--plans", "CHG", "--months", "2026-09"]
    assert main(sized) == 0
    assert "incident" not in capfd.readouterr().out
    assert main([*sized, "--incidents", "demo"]) == 0
    assert "CHG/2026-09: 60 lines (incident: the plan's new claims system" in capfd.readouterr().out
