"""Small hand-built plan-month drops for tests that need a few exact rows, not generated volume."""

from __future__ import annotations

import csv
import gzip
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from calaim_pipeline.ingest.contract import ENCOUNTER_COLUMNS, MEMBER_COLUMNS, PROVIDER_COLUMNS

BILLING_NPI = "1234567893"  # CMS's own example of a valid check digit
MEMBER_CIN = "91234567A"


def professional_line(claim_id: str, line_number: int, **overrides: str) -> dict[str, str]:
    row = dict.fromkeys(ENCOUNTER_COLUMNS, "")
    row.update(
        plan_code="CHG",
        claim_id=claim_id,
        claim_type="P",
        frequency_code="1",
        member_cin=MEMBER_CIN,
        billing_npi=BILLING_NPI,
        billing_taxonomy="207Q00000X",
        rendering_npi=BILLING_NPI,
        rendering_taxonomy="207Q00000X",
        diagnosis_1="E11.9",
        diagnosis_2="F32.A",
        received_date="2026-09-02",
        paid_date="2026-09-10",
        line_number=str(line_number),
        service_from_date=f"2026-08-{line_number + 1:02d}",
        procedure_code="99213",
        place_of_service="11",
        diagnosis_pointers="1,2",
        units="1",
        billed_amount="100.00",
        paid_amount="80.00",
    )
    row.update(overrides)
    return row


def claims(
    count: int, lines_per_claim: int = 2, prefix: str = "C", first_day: int = 0
) -> list[dict[str, str]]:
    """`count` clean claims whose service lines never duplicate each other (distinct days from
    `first_day`, counted from 2026-06-01, up to 90 claims)."""
    rows = []
    for c in range(count):
        service = date(2026, 6, 1) + timedelta(days=first_day + c)
        for n in range(1, lines_per_claim + 1):
            rows.append(
                professional_line(
                    f"{prefix}{c:05d}",
                    n,
                    service_from_date=service.isoformat(),
                    procedure_code=["99213", "99214", "90834", "90837"][n - 1],
                    rendering_npi=BILLING_NPI,
                )
            )
    return rows


def write_csv(
    path: Path, rows: list[dict[str, str]], columns: list[str] | None = None, bom: bool = False
) -> Path:
    columns = columns or list(ENCOUNTER_COLUMNS)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_rosters(folder: Path, members: int = 1) -> None:
    """A roster with MEMBER_CIN (plus filler members) and a directory with BILLING_NPI."""
    member_rows = [
        dict(
            zip(
                MEMBER_COLUMNS,
                [
                    MEMBER_CIN,
                    "DOE",
                    "JANE",
                    "1980-01-01",
                    "F",
                    "1 MAIN ST",
                    "SAN DIEGO",
                    "CA",
                    "921010000",
                    "37",
                    "2020-01-01",
                    "",
                ],
                strict=True,
            )
        )
    ]
    for i in range(1, members):
        member_rows.append({**member_rows[0], "member_cin": f"9{i:07d}A"})
    write_csv(folder / "members.csv", member_rows, list(MEMBER_COLUMNS))
    provider = dict(
        zip(
            PROVIDER_COLUMNS,
            [
                BILLING_NPI,
                "2",
                "CLINIC",
                "",
                "207Q00000X",
                "123456789",
                "1 A ST",
                "SAN DIEGO",
                "CA",
                "921010000",
            ],
            strict=True,
        )
    )
    write_csv(folder / "providers.csv", [provider], list(PROVIDER_COLUMNS))


def landing(root: Path, plan: str = "CHG", month: str = "2026-09") -> Path:
    folder = root / "landing" / plan / month
    folder.mkdir(parents=True, exist_ok=True)
    return folder
