"""A Tuva Project input-layer drop (medical_claim as Parquet, eligibility as CSV) built from a
contract-shaped sample month, and the contract-shaped file holding exactly what Tuva carries.

Tuva's medical_claim has no received date, diagnosis pointers, original claim id or attending NPI
and keeps the bill type whole: the fixture loses those the way a Tuva export would, and
`contract_equivalent` is the contract file a plan would have sent with only that information,
derived by the rules docs/profiles.md states (received = paid, pointer 1, facility type and
frequency from the bill type, attending = rendering). Run through the built-in profile, the Tuva
drop must judge row for row like that contract file."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from calaim_pipeline.ingest.contract import ENCOUNTER_COLUMNS
from calaim_pipeline_tests.profiled import rewrite_csv

CLAIM_TYPES = {"P": "professional", "I": "institutional"}
GENDERS = {"F": "female", "M": "male", "U": "unknown"}
SAME = ("claim_id", "billing_npi", "admission_date", "discharge_date", "paid_date", "paid_amount")
RENAMED = {
    "line_number": "claim_line_number",
    "member_cin": "member_id",
    "service_from_date": "claim_line_start_date",
    "service_to_date": "claim_line_end_date",
    "procedure_code": "hcpcs_code",
    "revenue_code": "revenue_center_code",
    "place_of_service": "place_of_service_code",
    "units": "service_unit_quantity",
    "billed_amount": "charge_amount",
    **{f"modifier_{i}": f"hcpcs_modifier_{i}" for i in range(1, 5)},
    **{f"diagnosis_{i}": f"diagnosis_code_{i}" for i in range(1, 13)},
}


def tuva_claim(row: dict[str, str]) -> dict[str, str]:
    """One contract line as a Tuva medical_claim row (plus the taxonomy columns the export adds)."""
    out = {"person_id": row["member_cin"], "payer": "Medi-Cal", "plan": "Medi-Cal managed care"}
    out |= {name: row[name] for name in SAME}
    out |= {tuva: row[contract] for contract, tuva in RENAMED.items()}
    out["claim_type"] = CLAIM_TYPES.get(row["claim_type"], row["claim_type"])
    institutional = row["claim_type"] == "I"
    out["bill_type_code"] = (
        row["facility_type_code"] + row["frequency_code"] if institutional else ""
    )
    out["rendering_npi"] = row["attending_npi"] if institutional else row["rendering_npi"]
    out["diagnosis_code_type"] = "icd-10-cm"
    out["billing_taxonomy"] = row["billing_taxonomy"]
    out["rendering_taxonomy"] = row["rendering_taxonomy"]
    out["data_source"] = "sample"
    return out


def _bill_type_part(bill_type: str, group: int) -> str | None:
    found = re.fullmatch(r"0?([0-9]{2})([0-9A-Z])", bill_type)
    return found.group(group) if found else (bill_type or None)


def contract_equivalent(claim: dict[str, str], plan: str) -> dict[str, str]:
    """The contract line holding what the Tuva row carries, by the profile's documented rules."""
    row = dict.fromkeys(ENCOUNTER_COLUMNS, "")
    row |= {name: claim[name] for name in SAME}
    row |= {contract: claim[tuva] for contract, tuva in RENAMED.items()}
    row["plan_code"] = plan
    row["claim_type"] = {v: k for k, v in CLAIM_TYPES.items()}.get(
        claim["claim_type"], claim["claim_type"]
    )
    row["facility_type_code"] = _bill_type_part(claim["bill_type_code"], 1) or ""
    row["frequency_code"] = _bill_type_part(claim["bill_type_code"], 2) or "1"
    row["rendering_npi"] = row["attending_npi"] = claim["rendering_npi"]
    row["billing_taxonomy"] = claim["billing_taxonomy"]
    row["rendering_taxonomy"] = claim["rendering_taxonomy"]
    row["received_date"] = claim["paid_date"]
    row["diagnosis_pointers"] = "1"
    return row


def _strings(rows: list[dict[str, str]]) -> pa.Table:
    return pa.table({name: pa.array([r[name] for r in rows], pa.string()) for name in rows[0]})


def build(contract_folder: Path, tuva_folder: Path, equivalent_folder: Path, plan: str) -> int:
    """From a month folder whose encounters are Parquet: the Tuva drop and the contract file
    equivalent to it (rosters copied; eligibility rewritten from members.csv). Returns lines."""
    (encounters,) = sorted(contract_folder.glob("encounters*.parquet"))
    rows = pq.read_table(encounters).to_pylist()
    rows = [{k: ("" if v is None else str(v)) for k, v in r.items()} for r in rows]
    claims = [tuva_claim(r) for r in rows]
    for folder in (tuva_folder, equivalent_folder):
        folder.mkdir(parents=True)
        (folder / "providers.csv").write_bytes((contract_folder / "providers.csv").read_bytes())
        (folder / "members.csv").write_bytes((contract_folder / "members.csv").read_bytes())
    pq.write_table(_strings(claims), tuva_folder / "encounters_medical_claim.parquet")
    pq.write_table(
        _strings([contract_equivalent(c, plan) for c in claims]),
        equivalent_folder / "encounters.parquet",
    )
    rewrite_csv(tuva_folder / "members.csv", _eligibility_row, delimiter=",", encoding="utf-8")
    return len(rows)


def _eligibility_row(row: dict[str, str]) -> dict[str, str]:
    return {
        "person_id": row["member_cin"],
        "member_id": row["member_cin"],
        "gender": GENDERS.get(row["gender"], row["gender"]),
        "birth_date": row["birth_date"],
        "enrollment_start_date": row["enrollment_start"],
        "enrollment_end_date": row["enrollment_end"],
        "payer": "Medi-Cal",
        "plan": "Medi-Cal managed care",
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "address": row["address_line_1"],
        "city": row["city"],
        "state": row["state"],
        "zip_code": row["zip"],
        "county_code": row["county_code"],
        "data_source": "sample",
    }
