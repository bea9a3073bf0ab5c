"""The columnar 837 renderer: the layout table compiled into DuckDB SQL string expressions, run in
bulk over a plan-month's accepted lines, and streamed to the file in order.

``stage.body_sql`` is the one query per file (line rows and claim rows in file order, the HL
numbering and SE counts as window functions, each row's problem); this module compiles the
layout's segments into it (``_segment_sql``, ``level_sql``: values from ``VALUES``, conditions
from ``CONDITIONS``) and runs it (``write_837``). Python writes ISA/GS and GE/IEA and copies
each Arrow batch's string buffer to the file as it is: no per-segment or per-line Python, and
memory bounded by DuckDB's limit and one batch, not by the file's size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import BinaryIO, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from calaim_pipeline.settings import Plan, Receiver
from calaim_pipeline.sqltext import sql_str
from calaim_pipeline.submission import accepted_lines
from calaim_pipeline.submission.control import ControlNumbers
from calaim_pipeline.submission.x12 import envelope, layout, stage, text
from calaim_pipeline.submission.x12.checks import SubmissionDataError
from calaim_pipeline.submission.x12.envelope import CLAIMS_PER_TRANSACTION_SET

# Values the input contract does not carry (assumed: DHCS's companion guide governs).
CONSTANTS = {
    "destination_payer_sequence": "S",  # 2000B: Medi-Cal receives the encounter after the plan
    "plan_payer_sequence": "P",  # 2320: the plan paid first
    "subscriber_is_patient": "18",  # SBR02 "self": no 2000C loop
    "claim_filing_indicator": "MC",  # Medicaid
}
# CL1 when the extract leaves a code empty (docs/decisions.md "837I CL1"): NUBC "information not
# available" for the admission type (inpatient only) and point of origin (every 837I claim); the
# patient status from the discharge date. Accepted inpatient claims carry all three
# (INPATIENT_ADMISSION_MISSING), so the defaults serve outpatient claims and hand-built lines.
ADMISSION_TYPE_UNKNOWN = ADMISSION_SOURCE_UNKNOWN = "9"
PATIENT_DISCHARGED, PATIENT_STILL_IN = "01", "30"
CAPITATED = "CAP"  # payment_arrangement of a capitated or sub-capitated claim (CN1*05)
# CAS for the line's billed minus paid: CO 45 (charge exceeds fee schedule); CO 24 (covered by a
# capitation agreement) on a capitated claim's lines; a line paid above its charge gets a negative
# OA 94 (processed in excess of charges), so charge - CAS = SVD paid.
UNDERPAID_ADJUSTMENT, OVERPAID_ADJUSTMENT = ("CO", "45"), ("OA", "94")
CAPITATION_ADJUSTMENT = ("CO", "24")


# An hour as HHMM: the contract's HH gets minutes 00 (DTP*096 TM, DTP*435 DT).
_HHMM = "CASE WHEN length({hour}) = 2 THEN {hour} || '00' ELSE {hour} END"
_CAPITATED = f"payment_arrangement = {sql_str(CAPITATED)}"


def _adjustment(part: int) -> str:
    """CAS01 (part 0) or CAS02 (part 1) of a line whose paid amount differs from its charge."""
    return (
        f"CASE WHEN billed_amount > paid_amount AND {_CAPITATED} "
        f"THEN {sql_str(CAPITATION_ADJUSTMENT[part])} "
        f"WHEN billed_amount > paid_amount THEN {sql_str(UNDERPAID_ADJUSTMENT[part])} "
        f"ELSE {sql_str(OVERPAID_ADJUSTMENT[part])} END"
    )


def _first_name(prefix: str) -> str:
    return f"CASE WHEN {prefix}_entity_type = '1' THEN x12_text({prefix}_first_name, {{n}}) ELSE '' END"


# Value names of the layout -> SQL over a row of the body query (stage.py); "{n}" is the element's
# maximum length, "{set}" / "{count}" the set number and segment count, "{c:name}" a constant.
VALUES: dict[str, str] = {
    "st02": "lpad(CAST({set} AS VARCHAR), 4, '0')",
    "bht03": "{c:isa13} || lpad(CAST({set} AS VARCHAR), 4, '0')",
    "segment_count": "CAST({count} AS VARCHAR)",
    "billing_hl": "CAST(billing_hl AS VARCHAR)",
    "billing_taxonomy": "upper(b_taxonomy)",
    "billing_entity": "b_entity_type",
    "billing_last": "x12_text(b_name, {n})",
    "billing_first": _first_name("b"),
    "billing_npi": "billing_npi",
    "billing_address": "x12_text(b_address_line_1, {n})",
    "billing_city": "x12_text(b_city, {n})",
    "billing_state": "upper(b_state)",
    "billing_zip": "b_zip",
    "billing_tax_id": "b_tax_id",
    "subscriber_hl": "CAST(subscriber_hl AS VARCHAR)",
    "parent_hl": "CAST(parent_hl AS VARCHAR)",
    "member_last": "x12_text(m_last_name, {n})",
    "member_first": "x12_text(m_first_name, {n})",
    "member_cin": "upper(member_cin)",
    "member_address": "x12_text(m_address_line_1, {n})",
    "member_city": "x12_text(m_city, {n})",
    "member_state": "upper(m_state)",
    "member_zip": "m_zip",
    "member_birth_date": "x12_d8(m_birth_date)",
    "member_gender": "upper(m_gender)",
    "claim_id": "upper(claim_id)",
    "claim_billed": "x12_amount(claim_billed)",
    "claim_paid": "x12_amount(claim_paid)",
    "claim_place_of_service": "claim_pos",
    "frequency_code": "frequency_code",
    "facility_type_code": "facility_type_code",
    # The extract's statement period, else the claim's first and last line dates.
    "statement_dates": "x12_d8(coalesce(statement_from_date, claim_from)) || '-' "
    "|| x12_d8(coalesce(statement_to_date, claim_to))",
    "discharge_hour": _HHMM.format(hour="discharge_hour"),
    "admission_date_format": "CASE WHEN x12_nonempty(admission_hour) THEN 'DT' ELSE 'D8' END",
    "admission_date": "x12_d8(admission_date) || CASE WHEN x12_nonempty(admission_hour) "
    f"THEN {_HHMM.format(hour='admission_hour')} ELSE '' END",
    "admission_type": "CASE WHEN admission_date IS NOT NULL THEN "
    f"coalesce(nullif(admission_type_code, ''), {sql_str(ADMISSION_TYPE_UNKNOWN)}) END",
    "admission_source": f"coalesce(nullif(admission_source_code, ''), {sql_str(ADMISSION_SOURCE_UNKNOWN)})",
    "patient_status": "coalesce(nullif(patient_status_code, ''), "
    "CASE WHEN admission_date IS NOT NULL AND discharge_date IS NULL "
    f"THEN {sql_str(PATIENT_STILL_IN)} ELSE {sql_str(PATIENT_DISCHARGED)} END)",
    "admitting_dx": "upper(trim(replace(admitting_diagnosis, '.', '')))",
    "prior_authorization": "prior_authorization_number",
    "payer_claim_control_number": "upper(payer_claim_control_number)",
    **{f"dx_{k}": f"dx[{k}]" for k in range(1, 13)},
    "rendering_entity": "r_entity_type",
    "rendering_last": "x12_text(r_name, {n})",
    "rendering_first": _first_name("r"),
    "rendering_npi": "rendering_npi",
    "rendering_taxonomy": "upper(r_taxonomy)",
    "attending_last": "x12_text(a_name, {n})",
    "attending_first": _first_name("a"),
    "attending_npi": "attending_npi",
    "attending_taxonomy": "upper(a_taxonomy)",
    "lx": "CAST(lx AS VARCHAR)",
    "procedure_qualifier": "proc_qualifier",
    "procedure_code": "proc_code",
    **{f"modifier_{k}": f"proc_mod_{k}" for k in range(1, 5)},
    "line_billed": "x12_amount(billed_amount)",
    "line_paid": "x12_amount(paid_amount)",
    "units": "x12_quantity(units)",
    "line_place_of_service": "CASE WHEN coalesce(place_of_service, '') <> claim_pos "
    "THEN place_of_service END",
    **{f"pointer_{k}": f"CAST(pointers[{k}] AS VARCHAR)" for k in range(1, 5)},
    "revenue_code": "revenue_code",
    "service_date_format": "CASE WHEN service_to_date IS NULL OR service_to_date = service_from_date "
    "THEN 'D8' ELSE 'RD8' END",
    "service_dates": "CASE WHEN service_to_date IS NULL OR service_to_date = service_from_date "
    "THEN x12_d8(service_from_date) "
    "ELSE x12_d8(service_from_date) || '-' || x12_d8(service_to_date) END",
    "line_number": "CAST(line_number AS VARCHAR)",
    "adjustment_group": _adjustment(0),
    "adjustment_reason": _adjustment(1),
    "adjustment_amount": "x12_amount(billed_amount - paid_amount)",
    "line_paid_date": "x12_d8(paid_date)",
}
_RENDERING_DIFFERS = "x12_nonempty(rendering_npi) AND rendering_npi <> coalesce(billing_npi, '')"
CONDITIONS: dict[str, str] = {
    "has_billing_taxonomy": "x12_nonempty(b_taxonomy)",
    "inpatient": "admission_date IS NOT NULL",
    "has_discharge_hour": "admission_date IS NOT NULL AND x12_nonempty(discharge_hour)",
    "capitated": _CAPITATED,
    "has_prior_authorization": "x12_nonempty(prior_authorization_number)",
    "has_admitting_diagnosis": "x12_nonempty(admitting_diagnosis)",
    "is_correction": "frequency_code IN ('7', '8')",
    "has_other_diagnoses": "len(dx) > 1",
    "rendering_differs": _RENDERING_DIFFERS,
    "has_rendering_taxonomy": f"{_RENDERING_DIFFERS} AND x12_nonempty(r_taxonomy)",
    "has_attending_taxonomy": "x12_nonempty(a_taxonomy)",
    "adjusted": "billed_amount <> paid_amount",
}


@dataclass
class FileTotals:
    """What one written file holds: for manifest.json and the submissions table."""

    transaction: str
    interchange_control_number: str
    group_control_number: str
    transaction_sets: int = 0
    claims: int = 0
    lines: int = 0
    billed: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)


# --- the layout compiled to SQL -----------------------------------------------------------------


def _value_sql(name: str, max_len: int, constants: dict[str, str]) -> str:
    if name in constants:
        return sql_str(constants[name])
    sql = VALUES[name].replace("{n}", str(max_len))
    return re.sub(r"\{c:(\w+)\}", lambda m: sql_str(constants[m.group(1)]), sql)


@dataclass(frozen=True)
class _Piece:
    """A part of a segment's text: a literal known when the SQL is compiled, or an expression."""

    text: str
    literal: bool

    def sql(self) -> str:
        return sql_str(self.text) if self.literal else self.text


def _concat(pieces: list[_Piece]) -> _Piece:
    """Adjacent literals joined at compile time: DuckDB then copies one constant, not many."""
    merged: list[_Piece] = []
    for piece in pieces:
        if piece.literal and not piece.text:
            continue
        if merged and piece.literal and merged[-1].literal:
            merged[-1] = _Piece(merged[-1].text + piece.text, True)
        else:
            merged.append(piece)
    if not merged:
        return _Piece("", True)
    if len(merged) == 1:
        return merged[0]
    return _Piece("concat(" + ", ".join(p.sql() for p in merged) + ")", False)


def _joined(pieces: list[_Piece], separator: str) -> _Piece:
    """Elements (or composite parts) joined by ``separator``, trailing empty ones dropped."""
    if all(p.literal for p in pieces):
        return _Piece(separator.join(p.text for p in pieces).rstrip(separator), True)
    body = _concat(
        [q for n, p in enumerate(pieces) for q in ([_Piece(separator, True)] if n else []) + [p]]
    )
    if pieces[-1].literal and pieces[-1].text:
        return body  # ends in a non-empty literal: nothing to trim
    return _Piece(f"rtrim({body.sql()}, {sql_str(separator)})", False)


def _element(e: layout.Element, constants: dict[str, str]) -> _Piece:
    if e.literal is not None:
        value = _Piece(e.literal, True)
    elif e.value in constants:
        value = _Piece(constants[e.value], True)
    else:
        value = _Piece(f"coalesce({_value_sql(e.value, e.max_len, constants)}, '')", False)
    if e.when is None:
        return value
    condition = f"x12_nonempty({_value_sql(e.when, e.max_len, constants)})"
    return _Piece(f"CASE WHEN {condition} THEN {value.sql()} ELSE '' END", False)


def _segment_sql(segment: layout.Segment, constants: dict[str, str]) -> _Piece:
    """One segment's text (``SEG*e1*e2~`` and a newline), as compile-time literal where it can be."""
    positions: dict[int, list[layout.Element]] = {}
    for e in segment.elements:
        positions.setdefault(e.position, []).append(e)
    elements = [_Piece(segment.seg_id, True)]
    for position in range(1, max(positions) + 1):
        found = positions.get(position, [])
        if not found:
            elements.append(_Piece("", True))
        elif all(e.part is None for e in found):
            elements.append(_element(found[-1], constants))
        else:
            by_part = {e.part or 1: _element(e, constants) for e in found}
            parts = [by_part.get(n, _Piece("", True)) for n in range(1, max(by_part) + 1)]
            elements.append(_joined(parts, ":"))
    return _concat([_joined(elements, "*"), _Piece("~\n", True)])


def level_sql(transaction: str, level: str, constants: dict[str, str]) -> tuple[str, str]:
    """(text, segment count) SQL of every segment of one level, in layout order; "set" is the
    set header (ST to 1000B), "trailer" its SE, "billing_hl" the 2000A HL and "billing" the
    rest of the billing provider's segments."""
    if level in ("set", "trailer"):
        chosen = [
            s
            for s in layout.segments(transaction, "set")
            if (s.seg_id == "SE") == (level == "trailer")
        ]
    elif level in ("billing", "billing_hl"):  # the HL apart: the rest is per billing provider
        chosen = [
            s
            for s in layout.segments(transaction, "billing")
            if (s.seg_id == "HL") == (level == "billing_hl")
        ]
    else:
        chosen = list(layout.segments(transaction, level))  # type: ignore[arg-type]
    texts: list[_Piece] = []
    counts: list[str] = []
    for segment in chosen:
        rendered = _segment_sql(segment, constants)
        if segment.when is None:
            texts.append(rendered)
            counts.append("1")
        else:
            condition = CONDITIONS[segment.when]
            texts.append(_Piece(f"CASE WHEN {condition} THEN {rendered.sql()} ELSE '' END", False))
            counts.append(f"CASE WHEN {condition} THEN 1 ELSE 0 END")
    text_sql = _concat(texts)
    return ("concat(" + text_sql.sql() + ")" if text_sql.literal else text_sql.sql()), " + ".join(
        counts
    )


# --- streaming the file -------------------------------------------------------------------------


def _constants(plan: Plan, receiver: Receiver) -> dict[str, str]:
    return {
        **CONSTANTS,
        "plan_name": text.clean_text(plan.name, 60),
        "plan_payer_id": plan.payer_id.upper(),  # 2330B NM109 / SVD01 (plans.yaml payer_id)
        "receiver_name": text.clean_text(receiver.name, 60),
        "receiver_payer_id": receiver.payer_id.upper(),  # 2010BB NM109 (receiver.payer_id)
    }


def _string_bytes(array: pa.Array, start: int, stop: int) -> memoryview:
    """The bytes of rows ``start``..``stop`` of a string array: one slice of its data buffer."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.large_string())
    _, offsets, data = array.buffers()
    kind = "q" if pa.types.is_large_string(array.type) else "i"
    positions = memoryview(offsets).cast(kind)
    return memoryview(data)[positions[array.offset + start] : positions[array.offset + stop]]


def _register_folds(con: duckdb.DuckDBPyConnection, sources) -> str | None:
    """The roster's distinct non-ASCII free-text values and their ASCII folding, as a view."""
    values = con.sql(accepted_lines.free_text_sql(sources)).to_arrow_table()["raw"]
    if len(values) == 0:
        return None
    con.register(stage.FOLDS, text.fold_table(values.combine_chunks()))
    return stage.FOLDS


def write_837(
    out: BinaryIO,
    transaction: layout.Transaction,
    sources: tuple[list[str], list[str], list[str]],
    plan: Plan,
    receiver: Receiver,
    control: ControlNumbers,
    created: datetime,
    con: duckdb.DuckDBPyConnection,
    *,
    usage: Literal["P", "T"] = "P",
    claims_per_transaction_set: int = CLAIMS_PER_TRANSACTION_SET,
    batch_rows: int = 1 << 16,
) -> FileTotals:
    """Stream one interchange (one file) of the plan-month's accepted lines of ``transaction``'s
    claim type (``accepted_lines.lake_sources``) to ``out``; returns its totals.

    Raises ``SubmissionDataError`` (naming the claim and the field, never member data) when a claim
    cannot be a valid 837, and ``ValueError`` when there are no claims; ``out`` then holds a partial
    file, which the caller discards. ``usage`` "T" marks a test interchange (ISA15).
    """
    envelope.check_transaction(transaction, claims_per_transaction_set)
    values = envelope.envelope_values(transaction, plan, receiver, control, created, usage)
    claim_type = "P" if transaction == "837P" else "I"
    constants = {**values, **_constants(plan, receiver)}
    text.install(con)
    accepted_lines.ensure_original_icns(con)
    folds = _register_folds(con, sources)
    try:
        query = stage.body_sql(
            sources,
            claim_type,
            transaction,
            lambda level: level_sql(transaction, level, constants),
            claims_per_transaction_set,
            fold_table=folds,
        )
        totals = FileTotals(transaction, control.isa13, control.gs06)
        out.write(envelope.head(transaction, values).encode("ascii"))
        for batch in con.sql(query).to_arrow_reader(batch_rows):
            problems = batch.column(3)
            if problems.null_count < batch.num_rows:
                raise SubmissionDataError(pc.drop_null(problems)[0].as_py())
            billed, paid = batch.column(4), batch.column(5)
            totals.claims += batch.num_rows - billed.null_count
            totals.lines += pc.sum(pc.cast(pc.greater(batch.column(1), 0), pa.int64())).as_py() or 0
            totals.billed += pc.sum(billed).as_py() or Decimal(0)
            totals.paid += pc.sum(paid).as_py() or Decimal(0)
            out.write(_string_bytes(batch.column(2), 0, batch.num_rows))
    finally:
        if folds is not None:
            con.unregister(folds)
    if totals.claims == 0:
        raise ValueError(f"no claims to write for {transaction}")
    totals.transaction_sets = -(-totals.claims // claims_per_transaction_set)
    out.write(envelope.tail(transaction, values, totals.transaction_sets).encode("ascii"))
    return totals
