"""The 837 content of issue #14, read back from the files: admission data, statement period,
capitation, prior authorization; and x12sdk as a second independent judge of every sample file.

Hand-built claims pin the exact segments; the sample (conftest.sample_built, the same files
test_submission.py validates with pyx12) is read back with x12sdk and compared, claim by claim,
with the lake's accepted lines.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from calaim_pipeline import lake
from calaim_pipeline.settings import DataPaths, load_thresholds
from calaim_pipeline_tests.conftest import SAMPLE_MONTHS, SAMPLE_SIZES
from calaim_pipeline_tests.test_x12_837 import CREATED, PLAN, RECEIVER, control
from calaim_pipeline_tests.x12_content_claims import (
    content_institutional_claims,
    content_professional_claims,
)
from calaim_pipeline_tests.x12_lake import render
from calaim_pipeline_tests.x12_support import assert_pyx12_accepts, assert_round_trip
from calaim_pipeline_tests.x12sdk_judge import as_list, claim_totals, judge_file

FFS_WARNING = "FFS_LINE_PAID_ZERO"


def _render(tmp_path: Path, transaction: str, claims: list) -> tuple[str, Path]:
    text, _ = render(transaction, claims, PLAN, RECEIVER, control(), CREATED)
    path = tmp_path / f"{transaction}.x12"
    path.write_text(text, encoding="ascii")
    return text, path


def test_837i_content_segments(tmp_path: Path) -> None:
    claims = content_institutional_claims()
    text, path = _render(tmp_path, "837I", claims)
    assert_pyx12_accepts(text)
    assert_round_trip(text, claims)
    assert judge_file(path).complaints == []
    # Inpatient: discharge hour, the extract's statement period, admission date and hour, a
    # complete CL1, the prior authorization, the admitting diagnosis between ABK and ABF.
    assert (
        "CLM*I-3001*3090***11:A:1**A*Y*Y~\nDTP*096*TM*1530~\nDTP*434*RD8*20260901-20260905~\n"
        "DTP*435*DT*202609020700~\nCL1*1*2*06~\nREF*G1*PA000123~\n"
        "HI*ABK:J189~\nHI*ABJ:R079~\nHI*ABF:I10~\n"
    ) in text
    # Outpatient, capitated: no CL101, the point of origin and status given, CN1*05, CARC 24.
    assert "DTP*434*RD8*20260901-20260901~\nCL1**1*01~\nCN1*05~\nHI*ABK:R079~" in text
    assert "CAS*CO*24*900~" in text
    assert text.count("CN1*") == 1 and text.count("HI*ABJ") == 1


def test_837p_capitation_and_prior_authorization(tmp_path: Path) -> None:
    claims = content_professional_claims()
    text, path = _render(tmp_path, "837P", claims)
    assert_pyx12_accepts(text)
    assert_round_trip(text, claims)
    assert judge_file(path).complaints == []
    assert "CLM*P-3001*300***16:B:1*Y*A*Y*Y~\nCN1*05~\nREF*G1*CS-00012345~\nHI*ABK:Z5900~" in text
    assert "CAS*CO*24*300~" in text
    # The FFS claim: no CN1; its $0 line still goes as CO 45 (validation warns: FFS_LINE_PAID_ZERO).
    ffs = text[text.index("CLM*P-3002") :]
    assert "CN1*" not in ffs and "CAS*CO*45*20~" in ffs and "CO*24" not in ffs


# --- the sample, read back ------------------------------------------------------------------------


def _lake_lines(paths: DataPaths, plan: str, month: str) -> list[dict[str, Any]]:
    source = lake.partition_file(paths.lake, "encounter_lines", plan, month)
    cursor = duckdb.connect().execute(f"SELECT * FROM read_parquet('{source}')")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _files(paths: DataPaths) -> list[tuple[str, str, Path]]:
    found = [
        (plan, month, path)
        for plan in SAMPLE_SIZES
        for month in SAMPLE_MONTHS
        for path in sorted((paths.submissions / plan / month).glob("*.x12"))
    ]
    assert len(found) == len(SAMPLE_SIZES) * len(SAMPLE_MONTHS) * 2
    return found


@pytest.fixture(scope="module")
def read_back(sample_built) -> list[tuple[str, dict[str, Any], dict[str, list[dict]]]]:
    """(transaction, x12sdk 2300 loop, the claim's accepted lake lines) for every sample claim."""
    paths, _ = sample_built
    found = []
    for plan, month, path in _files(paths):
        by_claim: dict[str, list[dict]] = defaultdict(list)
        for row in _lake_lines(paths, plan, month):
            by_claim[row["claim_id"]].append(row)
        judged = judge_file(path)
        assert judged.complaints == [], f"{path.name}: {judged.complaints[:5]}"
        for claim in judged.claims():
            found.append((judged.transaction, claim, by_claim))
    return found


def test_x12sdk_reads_every_sample_file_back_exactly(sample_built) -> None:
    """x12sdk (complaints other than its named false positives fail) reads every file; claims,
    lines, billed and paid totals equal the lake's accepted lines, and CLM02 = sum of charges."""
    paths, _ = sample_built
    for plan, month, path in _files(paths):
        judged = judge_file(path)
        assert judged.complaints == [], f"{path.name}: {judged.complaints[:5]}"
        claim_type = judged.transaction[-1]
        lake_claims: dict[str, list[dict]] = defaultdict(list)
        for row in _lake_lines(paths, plan, month):
            if row["claim_type"] == claim_type:
                lake_claims[row["claim_id"]].append(row)
        read = {
            c["clm_segment"]["patient_control_number"]: claim_totals(c) for c in judged.claims()
        }
        assert sorted(read) == sorted(lake_claims), path.name
        for claim_id, rows in lake_claims.items():
            totals = read[claim_id]
            assert totals.lines == len(rows)
            assert totals.billed == totals.line_charges == sum(r["billed_amount"] for r in rows)
            assert totals.paid == sum(r["paid_amount"] for r in rows)


def _first(rows: list[dict]) -> dict:
    return rows[0]


def _dtp(claim: dict, qualifier: str) -> dict | None:
    return next(
        (d for d in as_list(claim.get("dtp_segment")) if d["date_time_qualifier"] == qualifier),
        None,
    )


def test_every_inpatient_claim_has_admitting_dx_complete_cl1_and_statement_dates(read_back) -> None:
    inpatient_types = set(load_thresholds().inpatient_facility_types.value)
    seen = 0
    for transaction, claim, by_claim in read_back:
        if transaction != "837I":
            continue
        rows = by_claim[claim["clm_segment"]["patient_control_number"]]
        head = _first(rows)
        statement = _dtp(claim, "434")
        start = head["statement_from_date"] or min(r["service_from_date"] for r in rows)
        end = head["statement_to_date"] or max(r["service_to_date"] for r in rows)
        assert statement["date_time_period"] == f"{start:%Y%m%d}-{end:%Y%m%d}"
        if head["facility_type_code"] not in inpatient_types:
            continue
        seen += 1
        codes = [h["health_care_code_1"] for h in as_list(claim.get("hi_segment"))]
        assert ["ABJ", head["admitting_diagnosis"]] in codes
        cl1 = claim["cl1_segment"]
        assert (cl1["admission_type_code"], cl1["admission_source_code"]) == (
            head["admission_type_code"],
            head["admission_source_code"],
        )
        assert cl1["patient_status_code"] == head["patient_status_code"]
        # Consistent with the bill type: an admit-through-discharge bill (frequency 1 or its
        # replacement 7) never says "still a patient".
        frequency = claim["clm_segment"]["health_care_service_location_information"].split(":")[2]
        if frequency in ("1", "7"):
            assert cl1["patient_status_code"] != "30"
    assert seen > 0


def test_every_capitated_claim_has_cn1_and_its_unpaid_amounts_under_carc_24(read_back) -> None:
    capitated = ffs = 0
    for _, claim, by_claim in read_back:
        head = _first(by_claim[claim["clm_segment"]["patient_control_number"]])
        is_cap = head["payment_arrangement"] == "CAP"
        cn1 = claim.get("cn1_segment")
        assert (cn1 is not None and cn1["contract_type_code"] == "05") == is_cap
        for line in claim["loop_2400"]:
            for adjudication in line["loop_2430"]:
                for cas in as_list(adjudication.get("cas_segment")):
                    group = (cas["adjustment_group_code"], cas["adjustment_reason_code_1"])
                    amount = Decimal(cas["monetary_amount_1"])
                    if amount > 0:
                        assert group == (("CO", "24") if is_cap else ("CO", "45"))
                    else:
                        assert group == ("OA", "94")
        capitated += is_cap
        ffs += not is_cap
    assert capitated > 0 and ffs > 0


def test_no_zero_paid_ffs_line_goes_as_carc_45_without_the_warning(read_back) -> None:
    """A line sent with CAS*CO*45 and SVD paid $0 is a fee-for-service line paid nothing: the
    lake line must carry the FFS_LINE_PAID_ZERO warning."""
    for _, claim, by_claim in read_back:
        rows = {
            r["line_number"]: r for r in by_claim[claim["clm_segment"]["patient_control_number"]]
        }
        for line in claim["loop_2400"]:
            refs = {r["reference_identification_qualifier"]: r["reference_identification"]
                    for r in as_list(line.get("ref_segment"))}  # fmt: skip
            row = rows[int(refs["6R"])]
            for adjudication in line["loop_2430"]:
                paid = Decimal(adjudication["svd_segment"]["service_line_paid_amount"])
                groups = [
                    (c["adjustment_group_code"], c["adjustment_reason_code_1"])
                    for c in as_list(adjudication.get("cas_segment"))
                ]
                if paid == 0 and ("CO", "45") in groups:
                    assert FFS_WARNING in row["warn_rule_ids"], row["claim_id"]
    # and the other way round, on the lake: every FFS line paid $0 with a charge was flagged
    for _, _, by_claim in read_back:
        for rows in by_claim.values():
            for r in rows:
                if r["payment_arrangement"] != "CAP" and r["paid_amount"] == 0 < r["billed_amount"]:
                    assert FFS_WARNING in r["warn_rule_ids"]


def test_prior_authorizations_appear_as_ref_g1(read_back) -> None:
    authorized = 0
    for _, claim, by_claim in read_back:
        head = _first(by_claim[claim["clm_segment"]["patient_control_number"]])
        g1 = [r["reference_identification"] for r in as_list(claim.get("ref_segment"))
              if r["reference_identification_qualifier"] == "G1"]  # fmt: skip
        expected = head["prior_authorization_number"]
        assert g1 == ([expected] if expected else [])
        authorized += bool(expected)
    assert authorized > 0
