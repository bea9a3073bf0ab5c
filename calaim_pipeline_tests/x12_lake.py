"""Synthetic claims (``x12_claims``-style objects: claim_id, member, billing, lines, ...) written as
a lake partition (encounter_lines, members, providers), and the 837 renderer run over it: how the
837 tests drive the renderer from readable, hand-built claims."""

from __future__ import annotations

import io
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from calaim_pipeline.ingest.contract import (
    DATE_COLUMNS,
    ENCOUNTER_COLUMNS,
    MEMBER_COLUMNS,
    PROVIDER_COLUMNS,
)
from calaim_pipeline.lake import partition_file
from calaim_pipeline.settings import Plan, Receiver
from calaim_pipeline.submission.accepted_lines import lake_sources
from calaim_pipeline.submission.control import ControlNumbers
from calaim_pipeline.submission.x12.renderer import FileTotals, write_837

PLAN_CODE, MONTH = "CHG", "2026-09"


def encounter_type(column: str) -> pa.DataType:
    if column in DATE_COLUMNS:
        return pa.date32()
    if column in ("billed_amount", "paid_amount"):
        return pa.decimal128(18, 2)
    if column == "units":
        return pa.decimal128(12, 3)
    if column == "line_number":
        return pa.int32()
    return pa.string()


LINE_SCHEMA = pa.schema(
    [(c, encounter_type(c)) for c in ENCOUNTER_COLUMNS]
    + [("extract_month", pa.string()), ("source_file", pa.string()), ("source_row", pa.int64())]
)
MEMBER_SCHEMA = pa.schema([(c, pa.string()) for c in MEMBER_COLUMNS])
PROVIDER_SCHEMA = pa.schema([(c, pa.string()) for c in PROVIDER_COLUMNS])


def write_table(lake: Path, table: str, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    path = partition_file(lake, table, PLAN_CODE, MONTH)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    pq.write_table(pa.table(columns, schema=schema), path)


def _claim_type(claim: Any) -> str:
    return "I" if claim.facility_type_code or claim.attending is not None else "P"


def _line_rows(claim: Any, row: int) -> list[dict[str, Any]]:
    rows = []
    for line in claim.lines:
        values: dict[str, Any] = {
            "plan_code": PLAN_CODE,
            "claim_id": claim.claim_id,
            "claim_type": _claim_type(claim),
            "frequency_code": claim.frequency_code,
            "original_claim_id": claim.original_claim_id,
            "member_cin": claim.member.cin,
            "billing_npi": claim.billing.npi or None,
            "billing_taxonomy": claim.billing.taxonomy,
            "rendering_npi": claim.rendering.npi if claim.rendering else None,
            "rendering_taxonomy": claim.rendering.taxonomy if claim.rendering else None,
            "attending_npi": claim.attending.npi if claim.attending else None,
            "facility_type_code": claim.facility_type_code,
            "admission_date": claim.admission_date,
            "discharge_date": claim.discharge_date,
            **{f"diagnosis_{i}": code for i, code in enumerate(claim.diagnoses, start=1)},
            "received_date": date(2026, 9, 5),
            "paid_date": line.paid_date,
            "line_number": line.line_number,
            "service_from_date": line.service_from,
            "service_to_date": line.service_to,
            "procedure_code": line.procedure_code,
            **{f"modifier_{i}": m for i, m in enumerate(line.modifiers, start=1)},
            "revenue_code": line.revenue_code,
            "place_of_service": line.place_of_service,
            "diagnosis_pointers": ",".join(str(p) for p in line.diagnosis_pointers) or None,
            "units": Decimal(line.units),
            "billed_amount": Decimal(line.billed_amount),
            "paid_amount": Decimal(line.paid_amount),
            **(claim.content or {}),
            "extract_month": MONTH,
            "source_file": "encounters.csv",
            "source_row": row + len(rows),
        }
        rows.append(values)
    return rows


def write_claims(lake: Path, claims: list[Any]) -> None:
    """The claims as one plan-month of the lake; members and providers once each (by CIN / NPI),
    leaving out those the claims mark as unknown (no roster fields, no directory fields)."""
    lines: list[dict[str, Any]] = []
    members: dict[str, dict[str, Any]] = {}
    providers: dict[str, dict[str, Any]] = {}
    for claim in claims:
        lines += _line_rows(claim, len(lines) + 2)
        m = claim.member
        if not (m.last_name is None and m.birth_date is None and m.gender is None):
            members.setdefault(
                m.cin,
                {
                    "member_cin": m.cin,
                    **{
                        c: getattr(m, c)
                        for c in MEMBER_COLUMNS
                        if hasattr(m, c) and c != "birth_date"
                    },
                    "birth_date": m.birth_date.isoformat() if m.birth_date else None,
                    "county_code": "37",
                    "enrollment_start": "2026-01-01",
                },
            )
        for p in (claim.billing, claim.rendering, claim.attending):
            if p is not None and p.npi and not (p.entity_type is None and p.name is None):
                providers.setdefault(p.npi, {c: getattr(p, c) for c in PROVIDER_COLUMNS})
    write_table(lake, "encounter_lines", lines, LINE_SCHEMA)
    write_table(lake, "members", list(members.values()), MEMBER_SCHEMA)
    write_table(lake, "providers", list(providers.values()), PROVIDER_SCHEMA)


def render(
    transaction: str,
    claims: list[Any],
    plan: Plan,
    receiver: Receiver,
    control: ControlNumbers,
    created: datetime,
    *,
    claims_per_transaction_set: int = 5000,
) -> tuple[str, FileTotals]:
    """The 837 text the renderer writes for ``claims`` (through a scratch lake), and its totals."""
    claim_type = "P" if transaction == "837P" else "I"
    with tempfile.TemporaryDirectory(prefix="calaim-x12-") as scratch:
        lake = Path(scratch) / "lake"
        write_claims(lake, claims)
        sources = lake_sources(lake, PLAN_CODE, MONTH, claim_type)
        assert sources is not None
        con = duckdb.connect()
        try:
            out = io.BytesIO()
            totals = write_837(
                out, transaction, sources, plan, receiver, control, created, con,  # type: ignore[arg-type]
                claims_per_transaction_set=claims_per_transaction_set,
            )  # fmt: skip
        finally:
            con.close()
    return out.getvalue().decode("ascii"), totals
