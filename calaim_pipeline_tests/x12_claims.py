"""Readable, hand-built claims for the 837 tests: the test vocabulary (``x12_lake.write_claims``
writes them as a lake partition; the renderer reads them from there like any month)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Member:
    """A roster row of the month (2010BA; also 2330A)."""

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
    """A provider directory row; taxonomy is also the one the encounter line names."""

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
    # The optional claim-level contract columns (admitting_diagnosis, payment_arrangement, ...)
    # by name; absent = empty, as in an extract without them.
    content: dict[str, Any] | None = None

    @property
    def total_billed(self) -> Decimal:
        return sum((line.billed_amount for line in self.lines), Decimal(0))

    @property
    def total_paid(self) -> Decimal:
        return sum((line.paid_amount for line in self.lines), Decimal(0))
