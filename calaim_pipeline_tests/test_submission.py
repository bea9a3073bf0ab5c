"""Submission files built by the real Dagster job: pyx12 accepts every one, they round-trip against
the accepted lines, and the ledger keeps months final and lines unique across months."""

from __future__ import annotations

import json
import multiprocessing
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from calaim_pipeline import lake
from calaim_pipeline.catalog import ecm_cs_codes
from calaim_pipeline.settings import DataPaths, load_plans, load_thresholds
from calaim_pipeline.submission import ledger
from calaim_pipeline.submission.build import StaleValidationError, build_submission
from calaim_pipeline_tests.conftest import SAMPLE_MONTHS, SAMPLE_SIZES, run_partition
from calaim_pipeline_tests.drops import claims, landing, write_csv, write_rosters
from calaim_pipeline_tests.x12_support import parse_837, pyx12_validate

# The sample every test here reads (conftest.sample_built, shared with test_x12_content.py).
MONTHS, SIZES = SAMPLE_MONTHS, SAMPLE_SIZES


def _sample_files(paths: DataPaths) -> list[Path]:
    return sorted(paths.submissions.glob("*/*/*.x12"))


def _validate_file(path: str) -> tuple[str, bool, list[str]]:
    valid, errors, _ = pyx12_validate(Path(path).read_text(encoding="ascii"))
    return Path(path).name, valid, errors


def test_every_sample_file_passes_pyx12(sample_built):
    paths, _ = sample_built
    files = _sample_files(paths)
    assert len(files) == len(SIZES) * len(MONTHS) * 2  # an 837P and an 837I per plan-month
    # A process pool that fails loudly: multiprocessing.Pool.map waits forever for a task whose
    # worker died (seen once in a full run); ProcessPoolExecutor raises BrokenProcessPool instead.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        results = list(pool.map(_validate_file, [str(f) for f in files]))
    failed = [(name, errors[:5]) for name, valid, errors in results if not valid or errors]
    assert failed == []

    # The files hold what the sample is meant to exercise.
    text = {f.name: f.read_text(encoding="ascii") for f in files}
    professional = "".join(t for n, t in text.items() if "_837P_" in n)
    institutional = "".join(t for n, t in text.items() if "_837I_" in n)
    ecm_cs = {code.hcpcs for code in ecm_cs_codes()}
    assert any(f"HC:{code}" in professional for code in ecm_cs)
    frequencies = set()
    for body in (professional, institutional):
        parsed = parse_837(body)
        frequencies |= set(parsed.frequency.values())
        assert {"7", "8"} & set(parsed.frequency.values())  # corrections in both types
        assert "BHT*0019*00*" in body and "*RP~" in body
    assert frequencies == {"1", "7", "8"}  # originals, replacements, voids
    for name, body in text.items():
        ids = [seg.strip()[:3] for seg in body.split("~")]
        claims_text = "".join("C" if i == "CLM" else "L" if i == "LX*" else "" for i in ids)
        assert "CLL" in claims_text, f"{name} has no multi-line claim"


def _accepted(paths: DataPaths, plan: str, month: str, claim_type: str) -> dict:
    source = lake.partition_file(paths.lake, "encounter_lines", plan, month)
    con = duckdb.connect()
    rows = con.execute(
        "SELECT claim_id, count(*), sum(billed_amount), sum(paid_amount) "
        f"FROM read_parquet('{source}') WHERE claim_type = ? GROUP BY claim_id",
        [claim_type],
    ).fetchall()
    return {cid: (n, Decimal(billed), Decimal(paid)) for cid, n, billed, paid in rows}


def test_files_round_trip_against_accepted_lines_and_manifest(sample_built):
    """pyx12's own reader (not ours) reads every file back: claims, lines, billed and paid totals
    and claim ids equal the accepted lines; each claim's CLM02 equals the sum of its lines."""
    paths, _ = sample_built
    for plan in SIZES:
        for month in MONTHS:
            folder = paths.submissions / plan / month
            manifest = json.loads((folder / "manifest.json").read_text())
            for entry in manifest["files"]:
                file = folder / entry["file_name"]
                assert ledger.sha256_of(file) == entry["sha256"]
                parsed = parse_837(file.read_text(encoding="ascii"))
                assert parsed.reader_errors == []
                accepted = _accepted(paths, plan, month, entry["transaction"][-1])
                assert sorted(parsed.claim_ids) == sorted(accepted)
                assert parsed.lines == sum(n for n, _, _ in accepted.values()) == entry["lines"]
                assert parsed.billed == sum(b for _, b, _ in accepted.values())
                assert parsed.paid == sum(p for _, _, p in accepted.values())
                assert str(parsed.billed) == entry["total_billed"]
                assert str(parsed.paid) == entry["total_paid"]
                assert len(parsed.claim_ids) == entry["claims"]
                for claim_id, (_, billed, _) in accepted.items():
                    assert parsed.clm02[claim_id] == parsed.line_charges[claim_id] == billed
                assert parsed.isa13 == entry["interchange_control_number"]

    # The warehouse ledger views agree with the manifests.
    lake_sub = lake.partition_file(paths.lake, "submissions", "CHG", "2026-09")
    lake_lines = lake.partition_file(paths.lake, "submitted_lines", "CHG", "2026-09")
    con = duckdb.connect()
    (claims_total, lines_total) = con.execute(
        f"SELECT sum(claims), sum(lines) FROM read_parquet('{lake_sub}')"
    ).fetchone()
    (ledger_lines,) = con.execute(f"SELECT count(*) FROM read_parquet('{lake_lines}')").fetchone()
    manifest = json.loads((paths.submissions / "CHG" / "2026-09" / "manifest.json").read_text())
    assert (claims_total, lines_total) == (manifest["claims"], manifest["lines"]) != (0, 0)
    assert ledger_lines == manifest["lines"]


def _file_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_rerun_of_an_unchanged_month_keeps_its_files_and_control_numbers(sample_built):
    """Someone may have reviewed the files: the same inputs, rules and thresholds judged again
    keep the very same files, manifest and ISA13 ("unchanged"), even when the files were touched."""
    paths, instance = sample_built
    folder = paths.submissions / "CHG" / "2026-09"
    before = _file_bytes(folder)
    for landed in (paths.landing / "CHG" / "2026-09").iterdir():
        landed.touch()  # a re-drop of identical files: new mtimes, same bytes
    result = run_partition(instance, "CHG", "2026-09")
    assert result.success
    assert _file_bytes(folder) == before
    (materialization,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("submission")
    ]
    assert materialization.metadata["status"].value == "unchanged"


def test_control_numbers_never_repeat_across_runs(sample_built):
    paths, instance = sample_built
    folder = paths.submissions / "HPSM" / "2026-09"
    before = json.loads((folder / "manifest.json").read_text())
    # A corrected extract (its last line dropped) is a new judgement: new files, new numbers.
    extract = next((paths.landing / "HPSM" / "2026-09").glob("encounters*.csv"))
    # (HPSM's extract is Windows-1252 through its ingest profile: lines as bytes)
    extract.write_bytes(b"".join(extract.read_bytes().splitlines(keepends=True)[:-1]))
    assert run_partition(instance, "HPSM", "2026-09").success  # rebuild an unsent month
    after = json.loads((folder / "manifest.json").read_text())
    assert after["judgement_id"] != before["judgement_id"]
    old = {f["interchange_control_number"] for f in before["files"]}
    new = {f["interchange_control_number"] for f in after["files"]}
    assert old.isdisjoint(new)
    # Only the new build's files remain in the folder.
    assert sorted(p.name for p in folder.glob("*.x12")) == sorted(
        f["file_name"] for f in after["files"]
    )
    for plan in SIZES:
        numbers = [
            parse_837(p.read_text(encoding="ascii")).isa13
            for p in paths.submissions.glob(f"{plan}/*/*.x12")
        ]
        assert len(numbers) == len(set(numbers)) == len(MONTHS) * 2
        groups = [
            f["group_control_number"]
            for m in paths.submissions.glob(f"{plan}/*/manifest.json")
            for f in json.loads(m.read_text())["files"]
        ]
        assert len(groups) == len(set(groups))


# --- the ledger rules and the sent state, on small hand-built months ----------------------------


def _month_rows(month: str, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Dates inside the extract month for the received/paid fields."""
    return [dict(r, received_date=f"{month}-02", paid_date=f"{month}-10") for r in rows]


def _drop(root: Path, plan: str, month: str, rows: list[dict[str, str]]) -> None:
    folder = landing(root, plan, month)
    write_rosters(folder)
    write_csv(
        folder / "encounters.csv", _month_rows(month, [dict(r, plan_code=plan) for r in rows])
    )


def _rejects(paths: DataPaths, plan: str, month: str) -> dict[str, list[str]]:
    source = lake.partition_file(paths.lake, "encounter_rejects", plan, month)
    found: dict[str, set[str]] = defaultdict(set)
    for claim_id, rule_ids in duckdb.sql(
        f"SELECT claim_id, rule_ids FROM read_parquet('{source}')"
    ).fetchall():
        found[claim_id].update(rule_ids)
    return {k: sorted(v) for k, v in found.items()}


def test_cross_month_duplicates_and_unknown_originals_are_rejected(data_root, instance):
    august = claims(30, prefix="A")  # A00000.. served 2026-06-01..
    _drop(data_root.root, "CHG", "2026-08", august)
    assert run_partition(instance, "CHG", "2026-08").success

    september = claims(30, prefix="S", first_day=40)  # fresh services
    resent = [dict(r, claim_id="B00000") for r in august[:2]]  # A00000's lines again, as new
    replacement = [
        dict(
            r,
            claim_id="R00000",
            frequency_code="7",
            original_claim_id="A00001",
            paid_amount="70.00",
        )
        for r in august[2:4]
    ]
    void_known = [
        dict(r, claim_id="V00000", frequency_code="8", original_claim_id="A00002")
        for r in august[4:6]
    ]
    void_unknown = [
        dict(r, claim_id="V00001", frequency_code="8", original_claim_id="Z99999")
        for r in claims(1, prefix="X", first_day=80)
    ]
    _drop(
        data_root.root,
        "CHG",
        "2026-09",
        september + resent + replacement + void_known + void_unknown,
    )
    run_partition(instance, "CHG", "2026-09")

    rejects = _rejects(data_root, "CHG", "2026-09")
    assert rejects == {
        "B00000": ["DUPLICATE_OF_SUBMITTED"],
        "V00001": ["ORIGINAL_CLAIM_UNKNOWN"],
    }
    # The replacement and the void of known claims were accepted and went into September's files.
    manifest = json.loads((data_root.submissions / "CHG" / "2026-09" / "manifest.json").read_text())
    assert manifest["claims"] == 30 + 2 and manifest["lines"] == 60 + 4
    con = duckdb.connect()
    results = dict(
        con.execute(
            "SELECT rule_id, rows_failed FROM read_parquet(?) WHERE rule_id LIKE '%SUBMITTED' "
            "OR rule_id = 'ORIGINAL_CLAIM_UNKNOWN'",
            [str(lake.partition_file(data_root.lake, "rule_results", "CHG", "2026-09"))],
        ).fetchall()
    )
    assert results == {"DUPLICATE_OF_SUBMITTED": 2, "ORIGINAL_CLAIM_UNKNOWN": 2}  # lines

    # Once the void of A00002 is in the ledger, A00002's services may be reported anew in October.
    october = [dict(r, claim_id="N00000") for r in august[4:6]]
    _drop(data_root.root, "CHG", "2026-10", claims(20, prefix="O", first_day=60) + october)
    run_partition(instance, "CHG", "2026-10")
    assert "N00000" not in _rejects(data_root, "CHG", "2026-10")


def test_months_built_out_of_order_never_send_a_line_twice(data_root, instance):
    """September built before August (a retried or late run): August's original that September
    already reported as new is rejected, while August's claim that September replaces is not."""
    august = claims(20, prefix="A")
    september = claims(20, prefix="S", first_day=40)
    september += [dict(r, claim_id="B00000") for r in august[:2]]  # A00000's service, as new
    september += [
        dict(r, claim_id="R00000", frequency_code="7", original_claim_id="A00001")
        for r in august[2:4]
    ]
    _drop(data_root.root, "CHG", "2026-09", september)
    _drop(data_root.root, "CHG", "2026-08", august)
    assert run_partition(instance, "CHG", "2026-09").success
    run_partition(instance, "CHG", "2026-08")
    assert _rejects(data_root, "CHG", "2026-08") == {"A00000": ["DUPLICATE_OF_SUBMITTED"]}
    keys = duckdb.sql(
        "SELECT duplicate_key, count(*) FROM read_parquet(?) WHERE frequency_code = '1' "
        "GROUP BY ALL HAVING count(*) > 1",
        params=[str(data_root.lake / "submitted_lines" / "*" / "*" / "data.parquet")],
    ).fetchall()
    assert keys == []  # no original service in the ledger twice


def test_sent_month_is_final(data_root, instance, capsys):
    from calaim_pipeline.cli import main

    _drop(data_root.root, "CHG", "2026-08", claims(20, prefix="A"))
    assert run_partition(instance, "CHG", "2026-08").success
    folder = data_root.submissions / "CHG" / "2026-08"
    digests = {p.name: ledger.sha256_of(p) for p in folder.iterdir()}

    from calaim_pipeline.definitions import defs
    from calaim_pipeline.defs.partitions import plan_month_key

    mark = (
        defs()
        .resolve_job_def("mark_sent_job")
        .execute_in_process(
            partition_key=plan_month_key("CHG", "2026-08"),
            instance=instance,
            run_config={"ops": {"mark_plan_month_sent": {"config": {"reviewed_by": "QA lead"}}}},
        )
    )
    assert mark.success
    status = ledger.month_status(data_root.lake, "CHG", "2026-08")
    assert status.status == "sent" and status.sent_by == "QA lead"

    # Re-running the month fails, says why, and changes nothing.
    rerun = run_partition(instance, "CHG", "2026-08")
    assert not rerun.success
    failure = next(e for e in rerun.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "was marked sent" in message and "replacement (frequency 7)" in message
    assert {p.name: ledger.sha256_of(p) for p in folder.iterdir()} == digests
    with pytest.raises(ledger.SentMonthError):
        build_submission(data_root, load_plans(), "CHG", "2026-08")
    # The CLI says the same, refuses a second mark, and skips the month when running ALL.
    assert main(["mark-sent", "--plan", "CHG", "--month", "2026-08", "--reviewed-by", "x"]) == 1
    assert "already marked sent" in capsys.readouterr().err


def test_build_refuses_when_the_ledger_changed_after_validation(data_root):
    """September validated before August was built cannot know August's lines: the build sees
    the ledger as it is now and refuses rather than send a duplicate."""
    from calaim_pipeline.ingest.landing import find_drop
    from calaim_pipeline.plan_month_checks import evaluate_and_record
    from calaim_pipeline.validation.engine import run_plan_month

    august = claims(20, prefix="A")
    _drop(data_root.root, "CHG", "2026-08", august)
    _drop(
        data_root.root,
        "CHG",
        "2026-09",
        claims(20, prefix="S", first_day=40) + [dict(r, claim_id="B00000") for r in august[:2]],
    )
    plans, thresholds = load_plans(), load_thresholds()
    for month in ("2026-08", "2026-09"):
        run_plan_month(find_drop(data_root, "CHG", month, plans.codes), data_root, thresholds)
        evaluate_and_record(data_root.lake, "CHG", month, thresholds)
    build_submission(data_root, plans, "CHG", "2026-08")
    with pytest.raises(StaleValidationError, match="DUPLICATE_OF_SUBMITTED: 2 lines"):
        build_submission(data_root, plans, "CHG", "2026-09")
    assert not (data_root.submissions / "CHG" / "2026-09" / "manifest.json").exists()


def test_blocked_plan_month_builds_no_file_while_another_plan_does(data_root, instance):
    _drop(data_root.root, "CHG", "2026-09", claims(20))
    bad = claims(20)
    for row in bad[:10]:
        row["billed_amount"] = "-1"  # a quarter of the lines rejected: reject_rate fails (ERROR)
    _drop(data_root.root, "LACARE", "2026-09", bad)  # (HPSM's drops go through its profile)

    assert run_partition(instance, "CHG", "2026-09").success
    blocked = run_partition(instance, "LACARE", "2026-09")
    assert not blocked.success

    assert (data_root.submissions / "CHG" / "2026-09" / "manifest.json").is_file()
    assert not (data_root.submissions / "LACARE" / "2026-09").exists()
    assert ledger.month_status(data_root.lake, "LACARE", "2026-09") is None
    # Dagster skipped the submission step; the failed blocking check is the recorded reason.
    # The scorecard is still built: a failing month is when compliance needs it most.
    started = {e.step_key for e in blocked.all_events if e.event_type_value == "STEP_START"}
    assert "submission" not in started and {"plan_month_checks", "dq_scorecard"} <= started
    materialized = instance.get_materialized_partitions(dg.AssetKey("submission"))
    assert materialized == {"2026-09|CHG"}
    failed_checks = [
        e.event_specific_data.check_name
        for e in blocked.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
    ]
    assert "reject_rate" in failed_checks
