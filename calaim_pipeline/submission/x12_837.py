"""X12 5010 837P / 837I encounter files for one plan-month (pure functions, no Dagster).

DHCS takes managed-care encounters as 837 transactions (domain.md): professional lines as 837P
(``005010X222A1``), institutional lines as 837I (``005010X223A2``). An encounter is a claim the plan
has already adjudicated, so besides the claim itself every file carries the plan's payment: at
claim level in the other-payer loops 2320/2330A/2330B and per line in loop 2430 (SVD paid amount,
CAS for billed minus paid, DTP*573 adjudication date).

Layout decisions (each checked with pyx12 4.0.0; the TR3 section is named where it matters):

* Loop 2010BB (destination payer) is the receiver from plans.yaml (DHCS); the plan is the *other
  payer* that adjudicated the claim (2330B, and SVD01 repeats its id). The plan's id is its
  submitter id from plans.yaml (no separate payer id is configured).
* SBR01: 2000B ``S`` (Medi-Cal receives the encounter after the plan's adjudication) and 2320
  ``P`` (the plan paid first); SBR02 ``18`` (the member is the subscriber and the patient, so there
  is no 2000C loop); SBR09 ``MC`` (Medicaid). These are assumed: DHCS's companion guide governs.
* One 2000A per run of consecutive claims from the same billing provider and one 2000B per run of
  consecutive claims of the same member (at most 100 claims under one 2000B, the TR3 repeat limit
  of loop 2300). A new transaction set starts every 5,000 claims (the TR3's recommendation).
* Segments end in ``~`` plus a newline (pyx12 strips the newline); no BOM, no indentation.
* Text is reduced to the X12 basic character set (upper case, no delimiters); identifiers that
  would need changing are refused instead.

Errors raised here name the claim id and the field, never member data.
"""

from __future__ import annotations

import io
import itertools
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TextIO

import duckdb

from calaim_pipeline.ingest.contract import (
    DIAGNOSIS_COLUMNS,
    ENCOUNTER_COLUMNS,
    MODIFIER_COLUMNS,
    PROVIDER_COLUMNS,
)
from calaim_pipeline.lake import partition_dir
from calaim_pipeline.settings import Plan, Receiver
from calaim_pipeline.sqltext import sql_list, sql_str
from calaim_pipeline.submission.control import ControlNumbers

Transaction = Literal["837P", "837I"]

IMPLEMENTATION_GUIDE: dict[str, str] = {"837P": "005010X222A1", "837I": "005010X223A2"}
TRANSACTION_FOR_CLAIM_TYPE: dict[str, Transaction] = {"P": "837P", "I": "837I"}
CLAIMS_PER_TRANSACTION_SET = 5000  # TR3 1.4.1: no more than 5,000 CLM segments per ST-SE
CLAIMS_PER_SUBSCRIBER = 100  # TR3: loop 2300 repeats at most 100 times under one 2000B
MAX_LINES_PER_CLAIM: dict[str, int] = {"837P": 50, "837I": 999}  # loop 2400 repeat limits
MAX_DIAGNOSES = 12

# Values the input contract does not carry (assumed; see the module docstring and the report).
DESTINATION_PAYER_SEQUENCE = "S"
PLAN_PAYER_SEQUENCE = "P"
CLAIM_FILING_INDICATOR = "MC"  # Medicaid
SUBSCRIBER_IS_PATIENT = "18"  # SBR02 "self"
ACKNOWLEDGMENT_REQUESTED = "0"  # ISA14: no TA1; DHCS answers with a 999 anyway
# CAS for the line's billed minus paid: contractual obligation, "charge exceeds fee schedule"
# (CARC 45); the rare line paid above its charge gets a negative "processed in excess of charges"
# adjustment (CARC 94), which keeps SV1/SV2 charge - CAS = SVD paid balanced.
UNDERPAID_ADJUSTMENT = ("CO", "45")
OVERPAID_ADJUSTMENT = ("OA", "94")
# CL1 (837I, required segment): NUBC admission type 9 and point of origin 9 ("information not
# available"); patient status 01 (discharged home) once discharged, 30 (still a patient) for an
# inpatient stay without a discharge date.
ADMISSION_TYPE_UNKNOWN = "9"
ADMISSION_SOURCE_UNKNOWN = "9"
PATIENT_DISCHARGED = "01"
PATIENT_STILL_IN = "30"

_ID_TEXT = re.compile(r"[A-Za-z0-9.\-/()&',]([A-Za-z0-9 .\-/()&',]*[A-Za-z0-9.\-/()&',])?")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: \d also matches other scripts' digits
_NOT_BASIC = re.compile(r"[^A-Z0-9!\"&'()+,\-./;?= ]")  # the basic set, minus * : ^ ~
_SPACES = re.compile(r" {2,}")


class SubmissionDataError(ValueError):
    """A claim cannot be written as a valid 837; the message names the claim id and the field."""


@dataclass(frozen=True, slots=True)
class Member:
    """The subscriber (2010BA; also 2330A): a roster row of the month."""

    cin: str
    last_name: str | None
    first_name: str | None
    birth_date: date | None
    gender: str | None
    address_line_1: str | None
    city: str | None
    state: str | None
    zip: str | None


@dataclass(frozen=True, slots=True)
class Provider:
    """A provider as the directory knows it; taxonomy is the one the encounter line names."""

    npi: str
    entity_type: str | None = None  # "1" person, "2" organisation
    name: str | None = None  # last name or organisation name
    first_name: str | None = None
    taxonomy: str | None = None
    tax_id: str | None = None
    address_line_1: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """One accepted encounter line with the plan's adjudication of it."""

    line_number: int
    service_from: date
    service_to: date | None
    units: Decimal
    billed_amount: Decimal
    paid_amount: Decimal
    paid_date: date
    procedure_code: str | None = None
    modifiers: tuple[str, ...] = ()
    revenue_code: str | None = None
    place_of_service: str | None = None
    diagnosis_pointers: tuple[int, ...] = ()  # 1-based positions in Claim.diagnoses


@dataclass(frozen=True, slots=True)
class Claim:
    """One encounter: claim-level fields plus its lines in line-number order."""

    claim_id: str
    frequency_code: str
    member: Member
    billing: Provider
    diagnoses: tuple[str, ...]  # ICD-10-CM without dots, principal first
    lines: tuple[ServiceLine, ...]
    original_claim_id: str | None = None
    rendering: Provider | None = None  # 837P
    attending: Provider | None = None  # 837I
    facility_type_code: str | None = None  # 837I CLM05-1
    admission_date: date | None = None
    discharge_date: date | None = None

    @property
    def total_billed(self) -> Decimal:
        return sum((line.billed_amount for line in self.lines), Decimal(0))

    @property
    def total_paid(self) -> Decimal:
        return sum((line.paid_amount for line in self.lines), Decimal(0))


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


# --- element formatting -------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def _text(value: str | None, max_len: int) -> str:
    """Free text (names, addresses) reduced to the X12 basic character set. Cached: provider
    names and addresses repeat on every claim they bill."""
    if not value:
        return ""
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    cleaned = _SPACES.sub(" ", _NOT_BASIC.sub(" ", ascii_text.upper())).strip()
    return cleaned[:max_len].rstrip()


@lru_cache(maxsize=1 << 16)
def _amount(value: Decimal) -> str:
    """X12 R type: no trailing zeros, no exponent (125.50 -> 125.5, 100.00 -> 100)."""
    text = format(value.quantize(Decimal("0.01")), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _quantity(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


@lru_cache(maxsize=4096)
def _d8(value: date) -> str:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def _date_or_range(start: date, end: date | None) -> tuple[str, str]:
    if end is None or end == start:
        return "D8", _d8(start)
    return "RD8", f"{_d8(start)}-{_d8(end)}"


def _composite(*parts: str | None) -> str:
    values = ["" if p is None else p for p in parts]
    while values and values[-1] == "":
        values.pop()
    return ":".join(values)


class _Segments:
    """Writes segments and counts them for SE01."""

    __slots__ = ("count", "out")

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0

    def put(self, *elements: str | None) -> None:
        values = ["" if e is None else e for e in elements]
        while values and values[-1] == "":
            values.pop()
        self.out.write("*".join(values) + "~\n")
        self.count += 1

    def put_block(self, text: str, count: int) -> None:
        """Segments rendered earlier (see ``_cached_block``)."""
        self.out.write(text)
        self.count += count


# --- checks -------------------------------------------------------------------------------------


def _fail(claim: Claim, field: str, problem: str) -> SubmissionDataError:
    return SubmissionDataError(f"claim {claim.claim_id}: {field} {problem}")


def _identifier(claim: Claim, field: str, value: str | None, max_len: int) -> str:
    if not value:
        raise _fail(claim, field, "is missing")
    if len(value) > max_len or not _ID_TEXT.fullmatch(value):
        raise _fail(claim, field, f"is not 1-{max_len} plain characters")
    return value.upper()


def _required_text(
    claim: Claim, field: str, value: str | None, max_len: int, min_len: int = 1
) -> str:
    text = _text(value, max_len)
    if not text:
        raise _fail(claim, field, "is missing")
    if len(text) < min_len:
        raise _fail(claim, field, f"is shorter than {min_len} characters")
    return text


def _digits(claim: Claim, field: str, value: str | None, lengths: Sequence[int]) -> str:
    if not value or not _DIGITS.fullmatch(value) or len(value) not in lengths:
        allowed = " or ".join(str(n) for n in lengths)
        raise _fail(claim, field, f"is not {allowed} digits")
    return value


def _state(claim: Claim, field: str, value: str | None) -> str:
    if not value or not re.fullmatch(r"[A-Za-z]{2}", value):
        raise _fail(claim, field, "is not a 2-letter state code")
    return value.upper()


@lru_cache(maxsize=64)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _code(claim: Claim, field: str, value: str | None, pattern: str) -> str:
    if not value or not _pattern(pattern).fullmatch(value):
        raise _fail(claim, field, "is missing or malformed")
    return value.upper()


def _check_claim(claim: Claim, transaction: Transaction) -> None:
    if not claim.lines:
        raise _fail(claim, "lines", "are missing")
    if len(claim.lines) > MAX_LINES_PER_CLAIM[transaction]:
        raise _fail(claim, "lines", f"exceed the {transaction} limit of loop 2400")
    if claim.frequency_code not in ("1", "7", "8"):
        raise _fail(claim, "frequency_code", "is not 1, 7 or 8")
    if claim.frequency_code in ("7", "8"):
        _identifier(claim, "original_claim_id", claim.original_claim_id, 50)
    if not claim.diagnoses or len(claim.diagnoses) > MAX_DIAGNOSES:
        raise _fail(claim, "diagnoses", f"are not 1-{MAX_DIAGNOSES} codes")
    for code in claim.diagnoses:
        _code(claim, "diagnosis", code, r"[A-Za-z][0-9][A-Za-z0-9]{1,5}")
    for line in claim.lines:
        if line.units <= 0:
            raise _fail(claim, f"line {line.line_number} units", "are not positive")
        if transaction == "837P":
            _code(
                claim,
                f"line {line.line_number} procedure_code",
                line.procedure_code,
                r"[A-Za-z0-9]{5}",
            )
            _code(
                claim,
                f"line {line.line_number} place_of_service",
                line.place_of_service,
                r"[0-9]{2}",
            )
            pointers = line.diagnosis_pointers
            if not 1 <= len(pointers) <= 4 or any(
                not 1 <= p <= len(claim.diagnoses) for p in pointers
            ):
                raise _fail(
                    claim,
                    f"line {line.line_number} diagnosis_pointers",
                    "do not point at diagnoses",
                )
        else:
            _code(claim, f"line {line.line_number} revenue_code", line.revenue_code, r"[0-9]{4}")
            if line.procedure_code:
                _code(
                    claim,
                    f"line {line.line_number} procedure_code",
                    line.procedure_code,
                    r"[A-Za-z0-9]{5}",
                )
        for modifier in line.modifiers:
            _code(claim, f"line {line.line_number} modifier", modifier, r"[A-Za-z0-9]{2}")
        if len(line.modifiers) > 4:
            raise _fail(claim, f"line {line.line_number} modifiers", "are more than 4")
    if transaction == "837I":
        _code(claim, "facility_type_code", claim.facility_type_code, r"[0-9]{2}")


# --- loops --------------------------------------------------------------------------------------


def _provider_name(
    claim: Claim, role: str, provider: Provider, allowed: tuple[str, ...] = ("1", "2")
) -> tuple[str, str, str]:
    """(NM102, NM103, NM104) for a provider from the directory."""
    if provider.entity_type is None and provider.name is None:
        raise _fail(claim, f"{role} provider", "is not in the month's provider directory")
    entity = provider.entity_type or ""
    if entity not in allowed:
        raise _fail(claim, f"{role} provider entity_type", "is not valid for this loop")
    last = _required_text(claim, f"{role} provider name", provider.name, 60)
    first = _text(provider.first_name, 35) if entity == "1" else ""
    return entity, last, first


_BLOCKS: dict[tuple[Any, ...], tuple[str, int]] = {}
_MAX_BLOCKS = 200_000


def _cached_block(seg: _Segments, key: tuple[Any, ...], render: Any) -> None:
    """Write a block of segments that depends only on ``key`` (a billing provider),
    rendering and checking it once per key; blocks that fail their checks are never cached."""
    block = _BLOCKS.get(key)
    if block is None:
        buffer = io.StringIO()
        scratch = _Segments(buffer)
        render(scratch)
        block = (buffer.getvalue(), scratch.count)
        if len(_BLOCKS) >= _MAX_BLOCKS:
            _BLOCKS.clear()
        _BLOCKS[key] = block
    seg.put_block(*block)


def _billing_provider(seg: _Segments, claim: Claim, transaction: Transaction) -> None:
    _cached_block(
        seg,
        ("billing", claim.billing, transaction),
        lambda out: _render_billing_provider(out, claim, transaction),
    )


def _render_billing_provider(seg: _Segments, claim: Claim, transaction: Transaction) -> None:
    billing = claim.billing
    npi = _digits(claim, "billing npi", billing.npi, (10,))
    # 837I 2010AA NM102 allows only "2": an institution bills, never a person.
    allowed = ("1", "2") if transaction == "837P" else ("2",)
    entity, last, first = _provider_name(claim, "billing", billing, allowed)
    address = _required_text(claim, "billing provider address", billing.address_line_1, 55)
    city = _required_text(claim, "billing provider city", billing.city, 30, min_len=2)
    state = _state(claim, "billing provider state", billing.state)
    zip9 = _digits(claim, "billing provider zip", billing.zip, (9,))
    tax_id = _digits(claim, "billing provider tax_id", billing.tax_id, (9,))
    if billing.taxonomy:
        taxonomy = _code(claim, "billing taxonomy", billing.taxonomy, r"[A-Za-z0-9]{9}X")
        seg.put("PRV", "BI", "PXC", taxonomy)
    seg.put("NM1", "85", entity, last, first, None, None, None, "XX", npi)
    seg.put("N3", address)
    seg.put("N4", city, state, zip9)
    seg.put("REF", "EI", tax_id)


def _member_name(claim: Claim) -> tuple[str, str, str]:
    member = claim.member
    cin = _identifier(claim, "member cin", member.cin, 80)
    if member.last_name is None and member.birth_date is None and member.gender is None:
        raise _fail(claim, "member", "is not on the month's roster")
    last = _required_text(claim, "member last_name", member.last_name, 60)
    first = _text(member.first_name, 35)
    return cin, last, first


def _sbr(seg: _Segments, payer_sequence: str) -> None:
    """SBR for loop 2000B (DHCS, the destination payer) or 2320 (the plan that adjudicated)."""
    seg.put("SBR", payer_sequence, SUBSCRIBER_IS_PATIENT, *[None] * 6, CLAIM_FILING_INDICATOR)


def _subscriber(seg: _Segments, claim: Claim, receiver: Receiver) -> None:
    member = claim.member
    cin, last, first = _member_name(claim)
    address = _required_text(claim, "member address_line_1", member.address_line_1, 55)
    city = _required_text(claim, "member city", member.city, 30, min_len=2)
    state = _state(claim, "member state", member.state)
    zip_code = _digits(claim, "member zip", member.zip, (5, 9))
    if member.birth_date is None:
        raise _fail(claim, "member birth_date", "is missing")
    gender = (member.gender or "").upper()
    if gender not in ("F", "M", "U"):
        raise _fail(claim, "member gender", "is not F, M or U")
    _sbr(seg, DESTINATION_PAYER_SEQUENCE)
    seg.put("NM1", "IL", "1", last, first, None, None, None, "MI", cin)
    seg.put("N3", address)
    seg.put("N4", city, state, zip_code)
    seg.put("DMG", "D8", _d8(member.birth_date), gender)
    seg.put(
        "NM1",
        "PR",
        "2",
        _text(receiver.name, 60),
        None,
        None,
        None,
        None,
        "PI",
        receiver.id.upper(),
    )


def _other_payer(seg: _Segments, claim: Claim, plan: Plan) -> None:
    """Loops 2320/2330A/2330B: the plan as the payer that adjudicated the encounter."""
    cin, last, first = _member_name(claim)
    _sbr(seg, PLAN_PAYER_SEQUENCE)
    seg.put("AMT", "D", _amount(claim.total_paid))
    seg.put("OI", None, None, "Y", None, None, "Y")
    seg.put("NM1", "IL", "1", last, first, None, None, None, "MI", cin)
    seg.put("NM1", "PR", "2", _text(plan.name, 60), None, None, None, None, "PI", plan.submitter_id)


def _line_adjudication(
    seg: _Segments, line: ServiceLine, plan: Plan, procedure: str, revenue: str | None
) -> None:
    """Loop 2430: SVD paid, CAS for billed - paid, DTP*573 the plan's adjudication date."""
    seg.put(
        "SVD",
        plan.submitter_id,
        _amount(line.paid_amount),
        procedure,
        revenue,
        _quantity(line.units),
    )
    difference = line.billed_amount - line.paid_amount
    if difference > 0:
        seg.put("CAS", *UNDERPAID_ADJUSTMENT, _amount(difference))
    elif difference < 0:
        seg.put("CAS", *OVERPAID_ADJUSTMENT, _amount(difference))
    seg.put("DTP", "573", "D8", _d8(line.paid_date))


def _procedure(line: ServiceLine) -> str | None:
    if not line.procedure_code:
        return None
    return _composite("HC", line.procedure_code.upper(), *(m.upper() for m in line.modifiers))


def _professional_claim(seg: _Segments, claim: Claim, plan: Plan) -> None:
    claim_pos = claim.lines[0].place_of_service or ""
    seg.put(
        "CLM",
        _identifier(claim, "claim_id", claim.claim_id, 38),
        _amount(claim.total_billed),
        None,
        None,
        _composite(claim_pos, "B", claim.frequency_code),
        "Y",
        "A",
        "Y",
        "Y",
    )
    if claim.frequency_code in ("7", "8"):
        seg.put("REF", "F8", (claim.original_claim_id or "").upper())
    seg.put(
        "HI",
        _composite("ABK", claim.diagnoses[0].upper()),
        *(_composite("ABF", code.upper()) for code in claim.diagnoses[1:]),
    )
    rendering = claim.rendering
    if rendering is not None and rendering.npi != claim.billing.npi:
        # TR3 2310B: only when the rendering provider differs from the billing provider.
        npi = _digits(claim, "rendering npi", rendering.npi, (10,))
        entity, last, first = _provider_name(claim, "rendering", rendering)
        seg.put("NM1", "82", entity, last, first, None, None, None, "XX", npi)
        if rendering.taxonomy:
            taxonomy = _code(claim, "rendering taxonomy", rendering.taxonomy, r"[A-Za-z0-9]{9}X")
            seg.put("PRV", "PE", "PXC", taxonomy)
    _other_payer(seg, claim, plan)
    for number, line in enumerate(claim.lines, start=1):
        procedure = _procedure(line)
        pos = line.place_of_service
        seg.put("LX", str(number))
        seg.put(
            "SV1",
            procedure,
            _amount(line.billed_amount),
            "UN",
            _quantity(line.units),
            pos if pos != claim_pos else None,  # TR3: only when it differs from CLM05-1
            None,
            _composite(*(str(p) for p in line.diagnosis_pointers)),
        )
        seg.put("DTP", "472", *_date_or_range(line.service_from, line.service_to))
        seg.put("REF", "6R", str(line.line_number))
        _line_adjudication(seg, line, plan, procedure or "", None)


def _institutional_claim(seg: _Segments, claim: Claim, plan: Plan) -> None:
    seg.put(
        "CLM",
        _identifier(claim, "claim_id", claim.claim_id, 38),
        _amount(claim.total_billed),
        None,
        None,
        _composite(claim.facility_type_code, "A", claim.frequency_code),
        None,
        "A",
        "Y",
        "Y",
    )
    start = min(line.service_from for line in claim.lines)
    end = max(line.service_to or line.service_from for line in claim.lines)
    seg.put("DTP", "434", "RD8", f"{_d8(start)}-{_d8(end)}")
    inpatient = claim.admission_date is not None
    if inpatient:
        seg.put("DTP", "435", "D8", _d8(claim.admission_date))
    status = PATIENT_STILL_IN if inpatient and claim.discharge_date is None else PATIENT_DISCHARGED
    if inpatient:
        seg.put("CL1", ADMISSION_TYPE_UNKNOWN, ADMISSION_SOURCE_UNKNOWN, status)
    else:
        seg.put("CL1", None, None, status)
    if claim.frequency_code in ("7", "8"):
        seg.put("REF", "F8", (claim.original_claim_id or "").upper())
    seg.put("HI", _composite("ABK", claim.diagnoses[0].upper()))
    if len(claim.diagnoses) > 1:
        seg.put("HI", *(_composite("ABF", code.upper()) for code in claim.diagnoses[1:]))
    attending = claim.attending
    if attending is None:
        raise _fail(claim, "attending provider", "is missing")
    npi = _digits(claim, "attending npi", attending.npi, (10,))
    _, last, first = _provider_name(claim, "attending", attending, allowed=("1",))
    seg.put("NM1", "71", "1", last, first, None, None, None, "XX", npi)
    if attending.taxonomy:
        taxonomy = _code(claim, "attending taxonomy", attending.taxonomy, r"[A-Za-z0-9]{9}X")
        seg.put("PRV", "AT", "PXC", taxonomy)
    _other_payer(seg, claim, plan)
    for number, line in enumerate(claim.lines, start=1):
        procedure = _procedure(line)
        seg.put("LX", str(number))
        seg.put(
            "SV2",
            line.revenue_code,
            procedure,
            _amount(line.billed_amount),
            "UN",
            _quantity(line.units),
        )
        seg.put("DTP", "472", *_date_or_range(line.service_from, line.service_to))
        seg.put("REF", "6R", str(line.line_number))
        _line_adjudication(seg, line, plan, procedure or "", line.revenue_code)


# --- the file -----------------------------------------------------------------------------------


def _envelope_id(value: str, what: str, max_len: int) -> str:
    if not value or len(value) > max_len or not re.fullmatch(r"[A-Z0-9 .\-]+", value.upper()):
        raise ValueError(f"{what} {value!r} is not 1-{max_len} characters of A-Z, 0-9, space . -")
    return value.upper()


def _header_ids(plan: Plan, receiver: Receiver) -> tuple[str, str, str, str]:
    return (
        _envelope_id(plan.isa_sender_id, "isa_sender_id", 15),
        _envelope_id(receiver.id, "receiver id", 15),
        _envelope_id(plan.gs_sender_code, "gs_sender_code", 15),
        _envelope_id(plan.submitter_id, "submitter_id", 80),
    )


def _check_transaction(transaction: str, claims_per_transaction_set: int) -> None:
    if transaction not in IMPLEMENTATION_GUIDE:
        raise ValueError(f"transaction must be 837P or 837I, not {transaction!r}")
    if not 1 <= claims_per_transaction_set <= CLAIMS_PER_TRANSACTION_SET:
        raise ValueError(f"claims_per_transaction_set must be 1-{CLAIMS_PER_TRANSACTION_SET}")


def write_envelope_head(
    out: TextIO,
    transaction: Transaction,
    plan: Plan,
    receiver: Receiver,
    control: ControlNumbers,
    created: datetime,
    *,
    usage: Literal["P", "T"] = "P",
) -> None:
    """ISA and GS: what precedes the transaction sets of one interchange."""
    _check_transaction(transaction, 1)
    isa_sender, isa_receiver, gs_sender, _ = _header_ids(plan, receiver)
    out.write(
        "*".join(
            [
                "ISA",
                "00",
                " " * 10,
                "00",
                " " * 10,
                plan.isa_sender_qualifier,
                isa_sender.ljust(15),
                receiver.isa_qualifier,
                isa_receiver.ljust(15),
                created.strftime("%y%m%d"),
                created.strftime("%H%M"),
                "^",
                "00501",
                control.isa13,
                ACKNOWLEDGMENT_REQUESTED,
                usage,
                ":",
            ]
        )
        + "~\n"
    )
    _Segments(out).put(
        "GS",
        "HC",
        gs_sender,
        isa_receiver,
        created.strftime("%Y%m%d"),
        created.strftime("%H%M"),
        control.gs06,
        "X",
        IMPLEMENTATION_GUIDE[transaction],
    )


def write_envelope_tail(out: TextIO, transaction_sets: int, control: ControlNumbers) -> None:
    """GE and IEA: the group's set count and the closing control numbers."""
    tail = _Segments(out)
    tail.put("GE", str(transaction_sets), control.gs06)
    tail.put("IEA", "1", control.isa13)


def write_transaction_sets(
    out: TextIO,
    transaction: Transaction,
    claims: Iterable[Claim],
    plan: Plan,
    receiver: Receiver,
    control: ControlNumbers,
    created: datetime,
    *,
    first_set_number: int = 1,
    claims_per_transaction_set: int = CLAIMS_PER_TRANSACTION_SET,
) -> FileTotals:
    """The ST..SE sets for ``claims``, numbered from ``first_set_number``.

    Split from the envelope so a big month can be written by several processes, each taking a
    run of whole transaction sets, and concatenated between one head and one tail.
    """
    _check_transaction(transaction, claims_per_transaction_set)
    guide = IMPLEMENTATION_GUIDE[transaction]
    _, isa_receiver, _, submitter = _header_ids(plan, receiver)
    d8, hhmm = created.strftime("%Y%m%d"), created.strftime("%H%M")
    totals = FileTotals(transaction, control.isa13, control.gs06)
    write_claim = _professional_claim if transaction == "837P" else _institutional_claim

    seg: _Segments | None = None
    st_number = first_set_number - 1
    hl = in_set = in_subscriber = 0
    billing_key: Provider | None = None
    member_key: Member | None = None
    provider_hl = 0

    def close_set() -> None:
        assert seg is not None
        seg.put("SE", str(seg.count + 1), f"{st_number:04d}")

    for claim in claims:
        _check_claim(claim, transaction)
        if seg is None or in_set == claims_per_transaction_set:
            if seg is not None:
                close_set()
            st_number += 1
            seg = _Segments(out)
            seg.put("ST", "837", f"{st_number:04d}", guide)
            seg.put("BHT", "0019", "00", f"{control.isa13}{st_number:04d}", d8, hhmm, "RP")
            seg.put("NM1", "41", "2", _text(plan.name, 60), None, None, None, None, "46", submitter)
            seg.put("PER", "IC", _text(plan.contact_name, 60), "TE", plan.contact_phone)
            seg.put(
                "NM1",
                "40",
                "2",
                _text(receiver.name, 60),
                None,
                None,
                None,
                None,
                "46",
                isa_receiver,
            )
            hl = in_set = 0
            billing_key = member_key = None
        if claim.billing != billing_key:
            hl += 1
            provider_hl = hl
            seg.put("HL", str(hl), None, "20", "1")
            _billing_provider(seg, claim, transaction)
            billing_key, member_key = claim.billing, None
        if claim.member != member_key or in_subscriber == CLAIMS_PER_SUBSCRIBER:
            hl += 1
            seg.put("HL", str(hl), str(provider_hl), "22", "0")
            _subscriber(seg, claim, receiver)
            member_key, in_subscriber = claim.member, 0
        write_claim(seg, claim, plan)
        in_set += 1
        in_subscriber += 1
        totals.claims += 1
        totals.lines += len(claim.lines)
        totals.billed += claim.total_billed
        totals.paid += claim.total_paid
    if seg is not None:
        close_set()
    totals.transaction_sets = st_number - first_set_number + 1
    return totals


def write_837(
    out: TextIO,
    transaction: Transaction,
    claims: Iterable[Claim],
    plan: Plan,
    receiver: Receiver,
    control: ControlNumbers,
    created: datetime,
    *,
    usage: Literal["P", "T"] = "P",
    claims_per_transaction_set: int = CLAIMS_PER_TRANSACTION_SET,
) -> FileTotals:
    """Stream one interchange (one file) to ``out`` and return its totals.

    Streams so a 10M-line plan-month never sits in memory; ``build_837`` wraps it for small files.
    ``usage`` "T" marks a test interchange (ISA15).
    """
    _check_transaction(transaction, claims_per_transaction_set)
    pending = iter(claims)
    first = next(pending, None)
    if first is None:
        raise ValueError(f"no claims to write for {transaction}")
    write_envelope_head(out, transaction, plan, receiver, control, created, usage=usage)
    totals = write_transaction_sets(
        out,
        transaction,
        itertools.chain((first,), pending),
        plan,
        receiver,
        control,
        created,
        claims_per_transaction_set=claims_per_transaction_set,
    )
    write_envelope_tail(out, totals.transaction_sets, control)
    return totals


def build_837(
    transaction: Transaction,
    claims: Iterable[Claim],
    plan: Plan,
    receiver: Receiver,
    control: ControlNumbers,
    created: datetime,
) -> str:
    """The whole 837 as text (small files and tests; use ``write_837`` to stream to a file)."""
    buffer = io.StringIO()
    write_837(buffer, transaction, claims, plan, receiver, control, created)
    return buffer.getvalue()


# --- reading the lake ---------------------------------------------------------------------------

# Every contract column the 837 uses: all but the plan (from the folder) and the received date.
_LINE_COLUMNS = tuple(c for c in ENCOUNTER_COLUMNS if c not in ("plan_code", "received_date"))
_MEMBER_FIELDS = ("last_name", "first_name", "gender", "address_line_1", "city", "state", "zip")
_PROVIDER_FIELDS = tuple(c for c in PROVIDER_COLUMNS if c != "npi")  # npi is the join key


def _files(lake_root: Path, table: str, plan: str, month: str) -> list[str]:
    return [str(p) for p in sorted(partition_dir(lake_root, table, plan, month).glob("*.parquet"))]


def _lake_sql(lines: list[str], members: list[str], providers: list[str]) -> str:
    def source(files: list[str]) -> str:
        return f"read_parquet([{sql_list(files)}], hive_partitioning=false, filename=true, file_row_number=true)"

    member_cols = ", ".join(f"m.{c} AS m_{c}" for c in _MEMBER_FIELDS)
    provider_cols = ", ".join(
        f"{alias}.{c} AS {alias}_{c}" for alias in ("b", "r", "a") for c in _PROVIDER_FIELDS
    )
    return f"""
WITH m AS (
  SELECT member_cin, {", ".join(_MEMBER_FIELDS)}, TRY_CAST(birth_date AS DATE) AS birth_date
  FROM {source(members)} WHERE member_cin IS NOT NULL
  QUALIFY row_number() OVER (PARTITION BY member_cin
    ORDER BY TRY_CAST(enrollment_start AS DATE) DESC NULLS LAST, filename, file_row_number) = 1
),
p AS (
  SELECT npi, {", ".join(_PROVIDER_FIELDS)} FROM {source(providers)} WHERE npi IS NOT NULL
  QUALIFY row_number() OVER (PARTITION BY npi
    ORDER BY (regexp_full_match(coalesce(tax_id, ''), '[0-9]{{9}}')
              AND regexp_full_match(coalesce(zip, ''), '[0-9]{{9}}')) DESC, filename, file_row_number) = 1
)
SELECT {", ".join(f"l.{c}" for c in _LINE_COLUMNS)}, {member_cols}, m.birth_date AS m_birth_date,
  {provider_cols}
FROM {source(lines)} l
LEFT JOIN m ON m.member_cin = l.member_cin
LEFT JOIN p b ON b.npi = l.billing_npi
LEFT JOIN p r ON r.npi = l.rendering_npi
LEFT JOIN p a ON a.npi = l.attending_npi
WHERE l.claim_type = ?
"""


def _provider(row: Any, alias: str, npi: str | None, taxonomy: str | None) -> Provider | None:
    if not npi:
        return None
    fields = {c: row[f"{alias}_{c}"] for c in _PROVIDER_FIELDS}
    if taxonomy:
        fields["taxonomy"] = taxonomy
    return Provider(npi=npi, **fields)


def _claim_from_rows(rows: list[Any]) -> Claim:
    head = rows[0]
    # Diagnoses are compacted (empty diagnosis_N columns dropped); pointers are renumbered to match.
    position: dict[int, int] = {}
    diagnoses: list[str] = []
    for index, column in enumerate(DIAGNOSIS_COLUMNS, start=1):
        code = head[column]
        if code:
            diagnoses.append(code.replace(".", "").strip().upper())
            position[index] = len(diagnoses)
    lines = []
    for row in rows:
        pointers = tuple(
            position.get(int(p), 0)
            for p in (row["diagnosis_pointers"] or "").split(",")
            if p.strip().isdigit()
        )
        lines.append(
            ServiceLine(
                line_number=int(row["line_number"]),
                service_from=row["service_from_date"],
                service_to=row["service_to_date"],
                units=Decimal(row["units"]),
                billed_amount=Decimal(row["billed_amount"]),
                paid_amount=Decimal(row["paid_amount"]),
                paid_date=row["paid_date"],
                procedure_code=row["procedure_code"] or None,
                modifiers=tuple(row[c] for c in MODIFIER_COLUMNS if row[c]),
                revenue_code=row["revenue_code"] or None,
                place_of_service=row["place_of_service"] or None,
                diagnosis_pointers=pointers,
            )
        )
    member = Member(
        cin=head["member_cin"],
        birth_date=head["m_birth_date"],
        **{c: head[f"m_{c}"] for c in _MEMBER_FIELDS},
    )
    return Claim(
        claim_id=head["claim_id"],
        frequency_code=head["frequency_code"],
        original_claim_id=head["original_claim_id"] or None,
        member=member,
        billing=_provider(head, "b", head["billing_npi"], head["billing_taxonomy"])
        or Provider(npi=""),
        rendering=_provider(head, "r", head["rendering_npi"], head["rendering_taxonomy"]),
        attending=_provider(head, "a", head["attending_npi"], None),
        facility_type_code=head["facility_type_code"] or None,
        admission_date=head["admission_date"],
        discharge_date=head["discharge_date"],
        diagnoses=tuple(diagnoses),
        lines=tuple(lines),
    )


def claims_from_lake(
    lake_root: Path,
    plan: str,
    month: str,
    claim_type: str,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
    batch_size: int = 4096,
) -> Iterator[Claim]:
    """The plan-month's accepted claims of one type ("P" or "I"), by claim id, streamed.

    The same path the submission build takes (``stage_claims`` then ``claims_from_staged``), in
    one process: DuckDB sorts to a scratch Parquet file and hands over Arrow batches, so Python
    holds one batch and one claim at a time. Without ``con`` a private in-memory connection is
    used and closed when the iterator ends.
    """
    own = con is None
    db = duckdb.connect() if con is None else con
    try:
        with tempfile.TemporaryDirectory(prefix="calaim-claims-") as scratch:
            staged = Path(scratch) / "claims.parquet"
            count = stage_claims(lake_root, plan, month, claim_type, staged, db)
            if count:
                yield from claims_from_staged(staged, 1, count, db, batch_size=batch_size)
    finally:
        if own:
            db.close()


def _lake_sources(
    lake_root: Path, plan: str, month: str, claim_type: str
) -> tuple[list[str], list[str], list[str]] | None:
    if claim_type not in TRANSACTION_FOR_CLAIM_TYPE:
        raise ValueError(f"claim_type must be P or I, not {claim_type!r}")
    lines = _files(lake_root, "encounter_lines", plan, month)
    if not lines:
        return None
    members = _files(lake_root, "members", plan, month)
    providers = _files(lake_root, "providers", plan, month)
    for table, found in (("members", members), ("providers", providers)):
        if not found:
            raise FileNotFoundError(f"no {table} partition for {plan} {month} under {lake_root}")
    return lines, members, providers


class _Row:
    """One row of a columnar batch, read by column name: cheaper than a dict per row when a row
    has ~60 columns and the writer reads about 20 of them."""

    __slots__ = ("columns", "index")

    def __init__(self, columns: dict[str, list[Any]], index: int) -> None:
        self.columns = columns
        self.index = index

    def __getitem__(self, name: str) -> Any:
        return self.columns[name][self.index]


def _group_claims(reader: Iterable[Any]) -> Iterator[Claim]:
    """Arrow batches of claim rows, sorted by claim, as Claims (one claim in memory at a time)."""
    rows: list[Any] = []
    key: tuple[str, str] | None = None
    for batch in reader:
        columns = batch.to_pydict()
        claim_ids, frequencies = columns["claim_id"], columns["frequency_code"]
        for index in range(batch.num_rows):
            row_key = (claim_ids[index], frequencies[index])
            if row_key != key and rows:
                yield _claim_from_rows(rows)
                rows = []
            key = row_key
            rows.append(_Row(columns, index))
    if rows:
        yield _claim_from_rows(rows)


def stage_claims(
    lake_root: Path,
    plan: str,
    month: str,
    claim_type: str,
    out: Path,
    con: duckdb.DuckDBPyConnection,
) -> int:
    """Write the month's claim rows of one type, joined and sorted, with a claim sequence number
    (1..n) to ``out``; returns n. Workers then read runs of whole claims by sequence number."""
    sources = _lake_sources(lake_root, plan, month, claim_type)
    if sources is None:
        return 0
    query = (
        "SELECT *, dense_rank() OVER (ORDER BY claim_id, frequency_code) AS claim_seq "
        f"FROM ({_lake_sql(*sources)}) ORDER BY claim_seq, line_number"
    )
    con.execute(f"COPY ({query}) TO {sql_str(str(out))} (FORMAT parquet)", [claim_type])
    ((count,),) = con.execute(
        f"SELECT coalesce(max(claim_seq), 0) FROM read_parquet({sql_str(str(out))})"
    ).fetchall()
    return int(count)


def claims_from_staged(
    staged: Path,
    first_seq: int,
    last_seq: int,
    con: duckdb.DuckDBPyConnection,
    *,
    batch_size: int = 4096,
) -> Iterator[Claim]:
    """Claims ``first_seq``..``last_seq`` (inclusive) of a file written by ``stage_claims``."""
    relation = con.sql(
        f"SELECT * EXCLUDE (claim_seq) FROM read_parquet({sql_str(str(staged))}) "
        "WHERE claim_seq BETWEEN ? AND ? ORDER BY claim_seq, line_number",
        params=[first_seq, last_seq],
    )
    yield from _group_claims(relation.to_arrow_reader(batch_size))
