"""Three months through build -> mark sent -> simulated DHCS answers -> ingest, each judged and
built against the earlier months' answers: encounter_status equals the simulator's truth exactly,
the rejected claims are the worklist, corrections carry the originals' ICNs in REF*F8 (read back
with pyx12's reader), and a correction of a DHCS-rejected original is rejected by the rule."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from calaim_pipeline import lake, warehouse
from calaim_pipeline.responses.worklist import write_worklist
from calaim_pipeline.settings import DataPaths
from calaim_pipeline_tests.responses_support import build_cycle
from calaim_pipeline_tests.x12_support import parse_837

pytestmark = pytest.mark.slow
MONTHS = ("2026-06", "2026-07", "2026-08")
PLAN = "HPSM"
REJECT_SHARE = 0.25  # high, so some corrections point at rejected originals


@pytest.fixture(scope="module")
def cycle(tmp_path_factory) -> DataPaths:
    base = tmp_path_factory.mktemp("cycle")
    (base / "data").mkdir()
    (base / "home").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CALAIM_DATA_DIR", str(base / "data"))
        paths = build_cycle(
            base / "data",
            base / "home",
            MONTHS,
            plan_lines={PLAN: 3000},
            reject_share=REJECT_SHARE,
        )
        warehouse.ensure_views(paths)
        yield paths


def _truth(paths: DataPaths) -> dict[tuple, tuple]:
    rows = {}
    for file in sorted((paths.responses / PLAN / "truth").glob("*.truth.csv")):
        with file.open(newline="") as handle:
            for r in csv.DictReader(handle):
                key = (r["file_name"], r["claim_id"], r["frequency_code"])
                assert key not in rows
                rows[key] = (r["status"], r["dhcs_icn"] or None, r["stc_codes"])
    return rows


def _query(paths: DataPaths, sql: str) -> list[tuple]:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_encounter_status_matches_the_simulator_truth_exactly(cycle):
    truth = _truth(cycle)
    status = _query(
        cycle,
        "SELECT file_name, claim_id, frequency_code, status, dhcs_icn, stc_codes "
        "FROM encounter_status ORDER BY ALL",
    )
    got = {(f, c, q): (s, icn, stc) for f, c, q, s, icn, stc in status}
    assert len(got) == len(status)  # exactly one current status per submitted claim
    assert got == truth
    ((claims,),) = _query(
        cycle,
        "SELECT count(*) FROM (SELECT DISTINCT extract_month, claim_id, frequency_code "
        "FROM submitted_lines)",
    )
    assert claims == len(status)
    assert {s for s, _, _ in got.values()} == {"accepted", "rejected"}


def test_the_rejected_claims_are_the_worklist(cycle, tmp_path):
    truth = _truth(cycle)
    rejected = sorted((c, q) for (_, c, q), (s, _, _) in truth.items() if s == "rejected")
    rows = _query(cycle, "SELECT claim_id, frequency_code FROM corrections_worklist ORDER BY ALL")
    assert rows == rejected
    for month in MONTHS:
        out = tmp_path / f"{month}.csv"
        count = write_worklist(cycle.lake, PLAN, month, out)
        with out.open(newline="") as handle:
            listed = list(csv.DictReader(handle))
        assert count == len(listed) > 0
        assert all(r["extract_month"] == month and r["meaning"] and r["action"] for r in listed)


def _originals(paths: DataPaths, month: str) -> dict[str, tuple[str, str]]:
    """Each correction claim of the month's accepted lines: (frequency, original claim id)."""
    source = lake.partition_file(paths.lake, "encounter_lines", PLAN, month)
    return {
        c: (f, o)
        for c, f, o in duckdb.sql(
            f"SELECT DISTINCT claim_id, frequency_code, original_claim_id FROM '{source}' "
            "WHERE frequency_code IN ('7', '8')"
        ).fetchall()
    }


def test_corrections_carry_the_originals_icns_in_ref_f8(cycle):
    truth = _truth(cycle)
    icn_of = {c: icn for (_, c, _), (s, icn, _) in truth.items() if s == "accepted"}
    seen = set()
    for month in MONTHS[1:]:
        corrections = _originals(cycle, month)
        assert corrections
        for file in sorted((cycle.submissions / PLAN / month).glob("*.x12")):
            parsed = parse_837(file.read_text(encoding="ascii"))
            assert parsed.reader_errors == []
            for claim, ref in parsed.ref_f8.items():
                frequency, original = corrections[claim]
                assert ref == icn_of[original], claim
                seen.add(frequency)
    assert seen == {"7", "8"}  # replacements and voids


def test_a_correction_of_a_rejected_original_is_rejected_by_the_rule(cycle):
    truth = _truth(cycle)
    rejected_claims = {c for (_, c, _), (s, _, _) in truth.items() if s == "rejected"}
    rows = _query(
        cycle,
        "SELECT DISTINCT extract_month, claim_id, original_claim_id, details FROM encounter_rejects "
        "WHERE list_contains(rule_ids, 'ORIGINAL_CLAIM_NOT_ACCEPTED')",
    )
    assert rows
    for month, _, original, details in rows:
        assert month in MONTHS[1:]
        assert original in rejected_claims
        assert "the original was rejected by DHCS" in details
        assert "send the corrected claim as an original" in details


def test_dhcs_checks_see_the_outcome(cycle):
    from calaim_pipeline.responses.checks import evaluate, read_answers
    from calaim_pipeline.settings import load_thresholds

    for month in MONTHS:
        outcomes = {
            o.name: o for o in evaluate(read_answers(cycle.lake, PLAN, month), load_thresholds())
        }
        assert outcomes["dhcs_999_accepted"].passed
        assert not outcomes["dhcs_acceptance_rate"].passed  # 25% rejected < 95% threshold
        assert outcomes["dhcs_acceptance_rate"].metadata["top_rejections"]
        assert Path(cycle.responses / PLAN / "processed").is_dir()
