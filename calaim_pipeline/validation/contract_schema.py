"""The typed line contract of `encounter_lines`, as a pandera schema.

The rules decide each row's fate in SQL; this schema states what every accepted row must look like
(types, required values, formats) and is checked on the written file, batch by batch, so a bug in
a rule that lets a malformed row through fails the run instead of reaching a submission file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandera.errors as pa_errors
import pandera.polars as pa
import polars as pl
import pyarrow.parquet as pq

BATCH_ROWS = 1_000_000


class ContractViolation(RuntimeError):
    """An accepted row breaks the typed contract: a defect in the rules, never to be submitted."""


class AcceptedLine(pa.DataFrameModel):
    plan_code: str = pa.Field(str_matches=r"^[A-Z0-9_]{2,12}$")
    extract_month: str = pa.Field(str_matches=r"^\d{4}-(0[1-9]|1[0-2])$")
    claim_id: str = pa.Field(str_matches=r"^[A-Za-z0-9-]{1,38}$")
    claim_type: str = pa.Field(isin=["P", "I"])
    frequency_code: str = pa.Field(isin=["1", "7", "8"])
    original_claim_id: str = pa.Field(nullable=True)
    member_cin: str = pa.Field(str_matches=r"^9\d{7}[AC-HMNT-Z]$")
    billing_npi: str = pa.Field(str_matches=r"^[12]\d{9}$")
    billing_taxonomy: str = pa.Field(str_matches=r"^[0-9A-Z]{9}X$")
    rendering_npi: str = pa.Field(nullable=True, str_matches=r"^[12]\d{9}$")
    attending_npi: str = pa.Field(nullable=True, str_matches=r"^[12]\d{9}$")
    diagnosis_1: str = pa.Field(str_matches=r"^[A-Z]\d[A-Z0-9]{1,5}$")
    received_date: pl.Date
    paid_date: pl.Date
    service_from_date: pl.Date
    service_to_date: pl.Date
    line_number: pl.Int32 = pa.Field(ge=1, le=999)
    procedure_code: str = pa.Field(nullable=True, str_matches=r"^(\d{5}|\d{4}[FT]|[A-Z]\d{4})$")
    revenue_code: str = pa.Field(nullable=True, str_matches=r"^0[1-9]\d{2}$")
    place_of_service: str = pa.Field(nullable=True, str_matches=r"^\d{2}$")
    units: Annotated[pl.Decimal, 12, 3] = pa.Field(gt=0)
    billed_amount: Annotated[pl.Decimal, 18, 2] = pa.Field(ge=0)
    paid_amount: Annotated[pl.Decimal, 18, 2] = pa.Field(ge=0)
    source_file: str
    source_row: pl.Int64 = pa.Field(ge=2)
    line_key: str = pa.Field(unique=False)

    class Config:
        strict = False  # the other contract columns are checked by the rules
        coerce = False


def validate_accepted_file(path: Path) -> int:
    """Validate the accepted-lines Parquet file in slices of BATCH_ROWS; returns the rows checked.

    polars reads each slice itself (it skips row groups outside it), which is twice as fast as
    converting pyarrow batches, and memory stays bounded by the slice, not the file.
    """
    total = pq.ParquetFile(path).metadata.num_rows
    columns = list(AcceptedLine.to_schema().columns)
    scan = pl.scan_parquet(path).select(columns)
    for offset in range(0, total, BATCH_ROWS):
        frame = scan.slice(offset, BATCH_ROWS).collect()
        try:
            AcceptedLine.validate(frame, lazy=True)
        except pa_errors.SchemaErrors as exc:
            # pandera's own message quotes failing values (possibly a CIN): report names and counts.
            summary = (
                exc.failure_cases.group_by(["column", "check"]).len().sort("len", descending=True)
            )
            detail = "; ".join(
                f"{row['column']} {row['check']}: {row['len']} rows"
                for row in summary.iter_rows(named=True)
            )
            raise ContractViolation(
                f"{path.name}: accepted lines break the contract: {detail}"
            ) from None
    return total
