"""Rewriting a contract-shaped drop into a plan's own shape (pipe-delimited, Windows-1252, US
dates, its own names and codes, packed diagnoses and modifiers), with the profile that reads it
back. Values the contract rejects are written so the profile cannot convert them either: the
same rows must end accepted or rejected, by the same rules, on the same lines."""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

from calaim_pipeline.ingest.contract import DATE_COLUMNS, DIAGNOSIS_COLUMNS, MODIFIER_COLUMNS

RENAMED = {
    "plan_code": "PLAN_ID",
    "claim_id": "CLAIM_NBR",
    "claim_type": "CLM_TYPE",
    "frequency_code": "ADJ_CD",
    "member_cin": "MEM_ID",
    "billing_npi": "BILL_PROV_NPI",
    "procedure_code": "PROC_CD",
    "line_number": "LINE_NO",
    "service_from_date": "DOS_FROM",
    "service_to_date": "DOS_TO",
    "received_date": "RECV_DT",
    "paid_date": "PAID_DT",
    "billed_amount": "BILLED_AMT",
    "paid_amount": "PAID_AMT",
    "diagnosis_pointers": "DX_PTRS",
}
MEMBERS_RENAMED = {
    "member_cin": "MEM_ID",
    "birth_date": "DOB",
    "gender": "SEX",
    "enrollment_start": "ELIG_START",
    "enrollment_end": "ELIG_END",
}
PROVIDERS_RENAMED = {"npi": "PROV_NPI", "taxonomy": "TAXONOMY_CD"}
CLAIM_TYPES = {"P": "PROF", "I": "INST"}
FREQUENCIES = {"1": "ORIG", "7": "REPL", "8": "VOID"}
GENDERS = {"F": "FEMALE", "M": "MALE", "U": "UNKNOWN"}
NOTE = "Café – reviewed"  # an en dash: Windows-1252 has it, Latin-1 does not

PROFILE_YAML = """
profiles:
  acme_pipe:
    description: ACME claims system, pipe-delimited Windows-1252 with US dates
    dialect: {delimiter: "|", encoding: cp1252}
    encounters:
      columns:
        plan_code: PLAN_ID
        claim_id: CLAIM_NBR
        claim_type: CLM_TYPE
        frequency_code: ADJ_CD
        member_cin: MEM_ID
        billing_npi: BILL_PROV_NPI
        procedure_code: PROC_CD
        line_number: LINE_NO
        service_from_date: DOS_FROM
        service_to_date: DOS_TO
        received_date: RECV_DT
        paid_date: PAID_DT
        billed_amount: BILLED_AMT
        paid_amount: PAID_AMT
      packed:
        - {column: DX_CODES, separator: ";", into: [%(dx)s]}
        - {column: MODS, separator: ":", into: [%(mods)s]}
        - {column: DX_PTRS, separator: ":", into: [diagnosis_pointers], join: ","}
      value_maps:
        claim_type: {values: {PROF: P, INST: I}}
        frequency_code: {values: {ORIG: "1", REPL: "7", VOID: "8"}}
      date_formats: [MM/DD/YYYY]
      amounts: {currency_symbol: "$", thousands_separator: ","}
    members:
      columns: {member_cin: MEM_ID, birth_date: DOB, gender: SEX, enrollment_start: ELIG_START,
                enrollment_end: ELIG_END}
      value_maps:
        gender: {values: {FEMALE: F, MALE: M, UNKNOWN: U}}
      date_formats: [MM/DD/YYYY]
    providers:
      columns: {npi: PROV_NPI, taxonomy: TAXONOMY_CD}
plans:
  %(plan)s: acme_pipe
"""


def profile_yaml(plan: str) -> str:
    return PROFILE_YAML % {
        "dx": ", ".join(DIAGNOSIS_COLUMNS),
        "mods": ", ".join(MODIFIER_COLUMNS),
        "plan": plan,
    }


def _us_date(value: str) -> str:
    """A valid ISO date as MM/DD/YYYY; anything else so that MM/DD/YYYY cannot read it either."""
    if not value:
        return value
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value).strftime("%m/%d/%Y")
        except ValueError:
            return value  # 2026-02-30: no calendar date in any format
    return value + "*"  # 09/01/2026 in a contract file is an error; keep it one here


def _amount(value: str) -> str:
    if re.fullmatch(r"\d+\.\d{2}", value) and float(value) >= 1000:
        whole, cents = value.split(".")
        return f"${int(whole):,}.{cents}"
    return f"${value}" if value else value


def _packed(values: list[str], separator: str) -> str:
    return separator.join(values).rstrip(separator)


def _encounter_row(row: dict[str, str]) -> dict[str, str]:
    out = {
        RENAMED.get(k, k): v
        for k, v in row.items()
        if k not in (*DIAGNOSIS_COLUMNS, *MODIFIER_COLUMNS)
    }
    out["CLM_TYPE"] = CLAIM_TYPES.get(row["claim_type"], row["claim_type"])
    out["ADJ_CD"] = FREQUENCIES.get(row["frequency_code"], row["frequency_code"])
    for column in DATE_COLUMNS:
        out[RENAMED.get(column, column)] = _us_date(row[column])
    out["BILLED_AMT"], out["PAID_AMT"] = _amount(row["billed_amount"]), _amount(row["paid_amount"])
    out["DX_CODES"] = _packed([row[c] for c in DIAGNOSIS_COLUMNS], ";")
    out["MODS"] = _packed([row[c] for c in MODIFIER_COLUMNS], ":")
    out["DX_PTRS"] = row["diagnosis_pointers"].replace(",", ":")
    out["NOTE"] = NOTE
    return out


def _member_row(row: dict[str, str]) -> dict[str, str]:
    out = {MEMBERS_RENAMED.get(k, k): v for k, v in row.items()}
    out["SEX"] = GENDERS.get(row["gender"], row["gender"])
    for column in ("birth_date", "enrollment_start", "enrollment_end"):
        out[MEMBERS_RENAMED[column]] = _us_date(row[column])
    return out


def _provider_row(row: dict[str, str]) -> dict[str, str]:
    return {PROVIDERS_RENAMED.get(k, k): v for k, v in row.items()}


def rewrite_csv(path: Path, convert, delimiter: str = "|", encoding: str = "cp1252") -> None:
    """Line by line (the sample writes one record per line): a record with the header's field
    count is converted; any other (an unparseable row) keeps its fields, pipe-joined, so it stays
    unparseable. An undecodable byte becomes one Windows-1252 does not define (0x81)."""
    lines = path.read_bytes().split(b"\n")
    header = next(csv.reader([lines[0].decode("utf-8-sig")]))
    out_header: list[str] | None = None
    body = []
    for raw in lines[1:]:
        if not raw:
            continue
        text = raw.decode("utf-8", errors="surrogateescape").rstrip("\r")
        fields = next(csv.reader([text]))
        if len(fields) == len(header) and "\udcff" not in text:
            converted = convert(dict(zip(header, fields, strict=True)))
            out_header = out_header or list(converted)
            fields = [converted[name] for name in out_header]
        else:
            # An undecodable byte: one Windows-1252 does not define either (0x81).
            bad = "\udc81" if encoding == "cp1252" else None
            fields = [f.replace("\udcff", bad) if bad else f for f in fields]
        body.append(delimiter.join(_quoted(f, delimiter) for f in fields))
    assert out_header is not None
    text = "\n".join([delimiter.join(out_header), *body]) + "\n"
    path.write_bytes(text.encode(encoding, errors="surrogateescape"))


def _quoted(field: str, delimiter: str) -> str:
    if delimiter in field or '"' in field:
        return '"' + field.replace('"', '""') + '"'
    return field


def rewrite_month(folder: Path) -> None:
    """Every file of a contract-shaped month folder rewritten in place into the ACME shape."""
    for path in sorted(folder.glob("encounters*.csv")):
        rewrite_csv(path, _encounter_row)
    rewrite_csv(folder / "members.csv", _member_row)
    rewrite_csv(folder / "providers.csv", _provider_row)
