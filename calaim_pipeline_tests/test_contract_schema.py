"""The pandera contract of an accepted line catches a malformed row and names no member data."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from calaim_pipeline.validation.contract_schema import ContractViolation, validate_accepted_file

GOOD = {
    "plan_code": "CHG",
    "extract_month": "2026-09",
    "claim_id": "C1",
    "claim_type": "P",
    "frequency_code": "1",
    "original_claim_id": None,
    "member_cin": "91234567A",
    "billing_npi": "1234567893",
    "billing_taxonomy": "207Q00000X",
    "rendering_npi": "1234567893",
    "attending_npi": None,
    "diagnosis_1": "E119",
    "received_date": date(2026, 9, 2),
    "paid_date": date(2026, 9, 10),
    "service_from_date": date(2026, 8, 20),
    "service_to_date": date(2026, 8, 20),
    "line_number": 1,
    "procedure_code": "99213",
    "revenue_code": None,
    "place_of_service": "11",
    "units": Decimal("1.000"),
    "billed_amount": Decimal("100.00"),
    "paid_amount": Decimal("80.00"),
    "source_file": "encounters.csv",
    "source_row": 2,
    "line_key": "CHG:C1:1:1",
}
SCHEMA = pa.schema(
    [
        (name, pa.date32())
        if name.endswith("_date")
        else (name, pa.int32())
        if name == "line_number"
        else (name, pa.int64())
        if name == "source_row"
        else (name, pa.decimal128(12, 3))
        if name == "units"
        else (name, pa.decimal128(18, 2))
        if name.endswith("_amount")
        else (name, pa.string())
        for name in GOOD
    ]
)


def _write(tmp_path, rows):
    path = tmp_path / "encounter_lines.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)
    return path


def test_accepted_rows_pass(tmp_path):
    assert validate_accepted_file(_write(tmp_path, [GOOD, {**GOOD, "line_number": 2}])) == 2


def test_a_malformed_row_fails_without_quoting_it(tmp_path):
    bad_cin = "91234567B"  # B is not a CIN check letter
    path = _write(
        tmp_path, [GOOD, {**GOOD, "member_cin": bad_cin, "paid_amount": Decimal("-1.00")}]
    )
    with pytest.raises(ContractViolation) as caught:
        validate_accepted_file(path)
    message = str(caught.value)
    assert "member_cin" in message and "paid_amount" in message and "1 rows" in message
    assert bad_cin not in message
