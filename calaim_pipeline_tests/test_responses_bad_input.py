"""Bad response files: each is kept aside in rejected/ with a reason naming the file (never member
data), nothing is half-written, the other files are still ingested, re-ingesting is idempotent."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from calaim_pipeline.ledger import encounter_status as es
from calaim_pipeline.responses import ingest
from calaim_pipeline.responses.simulator import simulate_file, simulate_month
from calaim_pipeline.settings import DataPaths, load_plans
from calaim_pipeline_tests.responses_support import (
    answered_at,
    build_cycle,
    current_status,
    response_state,
)

PLAN, MONTH = "CHG", "2026-06"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> DataPaths:
    """CHG 2026-06 built, sent and not yet answered."""
    base = tmp_path_factory.mktemp("bad_input")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CALAIM_DATA_DIR", str(base / "data"))
        (base / "data").mkdir()
        (base / "home").mkdir()
        return build_cycle(
            base / "data",
            base / "home",
            (MONTH,),
            plan_lines={PLAN: 400},
            reject_share=0.1,
            answer=False,
        )


@pytest.fixture
def paths(built: DataPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataPaths:
    """A private copy of the built data root per test."""
    root = tmp_path / "data"
    shutil.copytree(built.root, root, symlinks=True)
    monkeypatch.setenv("CALAIM_DATA_DIR", str(root))
    return DataPaths(root)


def _answers(paths: DataPaths, **kwargs) -> list:
    return simulate_month(paths, PLAN, MONTH, when=answered_at(MONTH), **kwargs)


def _ingest(paths: DataPaths) -> dict[str, ingest.FileOutcome]:
    return {o.file: o for o in ingest.ingest_plan(paths, load_plans(), PLAN)}


def _member_values(paths: DataPaths) -> set[str]:
    """Patient names and ids the 277CAs carry (2100D NM1*QC): never in a message."""
    values = set()
    for file in (paths.responses / PLAN).rglob("*.277ca"):
        for segment in file.read_text().split("~"):
            if segment.strip().startswith("NM1*QC*"):
                fields = segment.strip().split("*")
                values |= {fields[3], fields[4], fields[9]} - {""}
    return values


def _assert_kept_aside(paths: DataPaths, outcome: ingest.FileOutcome, pattern: str) -> None:
    assert outcome.outcome == ingest.REFUSED
    assert outcome.message.startswith(outcome.file + ":")
    assert re.search(pattern, outcome.message), outcome.message
    aside = paths.responses / PLAN / ingest.REJECTED / outcome.file
    assert aside.is_file()
    reason = aside.with_name(aside.name + ".reason.txt").read_text()
    assert re.search(pattern, reason)
    assert not (paths.responses / PLAN / outcome.file).exists()
    members = _member_values(paths)
    assert not any(value in outcome.message or value in reason for value in members)


def test_malformed_files_are_kept_aside_and_the_rest_ingested(paths):
    made = _answers(paths)
    folder = paths.responses / PLAN
    (folder / "garbage.999").write_text("this is not X12\n")
    broken = made[1].ca_277.read_text()
    (folder / "truncated.277ca").write_text(broken[: len(broken) // 2])
    outcomes = _ingest(paths)
    _assert_kept_aside(paths, outcomes["garbage.999"], "not an X12 interchange")
    _assert_kept_aside(paths, outcomes["truncated.277ca"], "ends inside an open ST")
    good = [o for o in outcomes.values() if o.file.startswith("SIMULATED_")]
    assert len(good) == 4 and all(o.outcome == ingest.INGESTED for o in good)
    assert {s for *_, s, _, _ in current_status(paths, PLAN)} == {es.ACCEPTED, es.REJECTED}


def test_unknown_control_number_is_kept_aside(paths):
    made = _answers(paths)
    text = made[0].ack_999.read_text()
    gs06 = re.search(r"AK1\*HC\*(\d+)\*", text).group(1)
    made[0].ack_999.write_text(text.replace(f"AK1*HC*{gs06}*", "AK1*HC*987654*"))
    ca = made[1].ca_277
    ca.write_text(re.sub(r"TRN\*2\*(\d{9})", "TRN*2*999999999", ca.read_text(), count=1))
    before = response_state(paths)
    outcomes = _ingest(paths)
    _assert_kept_aside(paths, outcomes[made[0].ack_999.name], "GS06 987654.*never sent")
    _assert_kept_aside(paths, outcomes[ca.name], "999999999.*unknown control number")
    ingested = [o for o in outcomes.values() if o.outcome == ingest.INGESTED]
    assert len(ingested) == 2  # the other 999 and 277CA
    assert before == {} and response_state(paths)  # the good ones wrote; the bad ones nothing


def test_another_plans_response_in_this_plans_folder_is_kept_aside(paths):
    made = _answers(paths)
    hpsm = load_plans().plan("HPSM").isa_sender_id
    for response in (made[0].ack_999, made[0].ca_277):
        text = response.read_text()
        response.write_text(text.replace("*ZZ*CHG00001       *", f"*ZZ*{hpsm.ljust(15)}*", 1))
    outcomes = _ingest(paths)
    for response in (made[0].ack_999, made[0].ca_277):
        _assert_kept_aside(paths, outcomes[response.name], "addressed to plan HPSM.*responses/HPSM")
    assert [o.outcome for o in outcomes.values()].count(ingest.INGESTED) == 2


def test_the_same_response_twice_changes_nothing(paths):
    _answers(paths)
    first = _ingest(paths)
    assert all(o.outcome == ingest.INGESTED for o in first.values())
    state, status = response_state(paths), current_status(paths, PLAN)
    for done in (paths.responses / PLAN / ingest.PROCESSED).iterdir():
        shutil.copy(done, paths.responses / PLAN / done.name)
    again = _ingest(paths)
    for outcome in again.values():
        _assert_kept_aside(paths, outcome, "already ingested as .*a repeat, nothing changed")
    assert response_state(paths) == state
    assert current_status(paths, PLAN) == status


def test_out_of_order_responses_keep_the_newer_status_and_the_history(paths, tmp_path):
    """A later 277CA (other verdicts) is ingested first; the earlier one arriving after it goes
    into the history but does not replace the current status."""
    answer = _answers(paths, seed=1, reject_share=0.3)  # the newer answer, ingested first
    for response in answer:  # keep only the 277CAs for this test
        response.ack_999.unlink()
    later = {o.file: o for o in ingest.ingest_plan(paths, load_plans(), PLAN)}
    assert all(o.outcome == ingest.INGESTED for o in later.values())
    newer = current_status(paths, PLAN)
    earlier = tmp_path / "earlier"
    names = sorted(p.name for p in (paths.submissions / PLAN / MONTH).glob("*.x12"))
    for name in names:
        older = simulate_file(
            paths.submissions / PLAN / MONTH / name,
            PLAN,
            earlier,
            seed=2,
            reject_share=0.05,
            when=answered_at(MONTH) - timedelta(days=3),
        )
        shutil.copy(older.ca_277, paths.responses / PLAN / f"EARLIER_{older.ca_277.name}")
    outcomes = _ingest(paths)
    for outcome in outcomes.values():
        assert outcome.outcome == ingest.INGESTED
        assert outcome.notes and "out of order" in outcome.message
        assert "current status is unchanged" in outcome.message
    assert current_status(paths, PLAN) == newer
    import duckdb

    history = es.plan_status_sql(paths.lake, PLAN)
    ((most,),) = duckdb.sql(f"SELECT max(responses) FROM ({history})").fetchall()
    assert most == 2  # both answers kept in the history


def test_pyx12_finds_no_errors_in_the_simulated_responses(paths):
    """pyx12's own validator (x12n_document) on every 999 and 277CA the simulator writes: with
    rejected claims, and with a 999 that rejects a transaction set."""
    from calaim_pipeline_tests.x12_support import pyx12_validate

    made = _answers(paths, reject_share=0.2) + _answers(paths, seed=3, rejected_sets={"0001"})
    files = [r.ack_999 for r in made] + [r.ca_277 for r in made if r.ca_277 is not None]
    assert len(files) >= 6
    for file in files:
        valid, errors, _ = pyx12_validate(file.read_text(encoding="ascii"))
        assert errors == [] and valid is True, file.name
    rejected = [r.ack_999.read_text() for r in made[-2:]]
    assert all("IK5*R*5~" in text and "AK9*R*1*1*0~" in text for text in rejected)
    assert sum("STC*A7:" in r.ca_277.read_text() for r in made if r.ca_277) >= 1


def test_the_sensor_and_the_dhcs_job_ingest_and_check_the_month(paths, tmp_path):
    """New files in responses/CHG/ make the sensor request the month they answer; the job ingests
    them and records the DHCS checks for that plan-month (what the UI shows per partition)."""
    import dagster as dg

    from calaim_pipeline.definitions import defs
    from calaim_pipeline.defs.partitions import plan_month_key
    from calaim_pipeline.defs.responses import dhcs_response_sensor

    _answers(paths, reject_share=0.3)
    (paths.responses / PLAN / "garbage.277ca").write_text("not X12")
    first = dhcs_response_sensor(dg.build_sensor_context(cursor=None))
    assert [str(r.partition_key) for r in first.run_requests] == [f"{MONTH}|{PLAN}"]
    again = dhcs_response_sensor(dg.build_sensor_context(cursor=first.cursor))
    assert again.run_requests == []
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = (
            defs()
            .resolve_job_def("dhcs_responses_job")
            .execute_in_process(partition_key=plan_month_key(PLAN, MONTH), instance=instance)
        )
        assert result.success
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert set(checks) == {"dhcs_999_accepted", "dhcs_acceptance_rate", "dhcs_277ca_overdue"}
        assert checks["dhcs_999_accepted"].passed
        rate = checks["dhcs_acceptance_rate"]
        assert not rate.passed and rate.severity == dg.AssetCheckSeverity.ERROR
        assert "simulated" in rate.description
        assert (paths.responses / PLAN / "rejected" / "garbage.277ca").is_file()
        assert not ingest.pending(paths, PLAN)
