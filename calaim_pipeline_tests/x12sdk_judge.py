"""x12sdk (a maintained pydantic-2 X12 library) as a second, independent judge of our 837 files.

Each transaction set is read into x12sdk's loop structure (its own segment reader and parser) and
validated by its typed models. Its known false positives on valid files are filtered here, by
name, in one place (stack-notes.md); any other complaint is a finding. The loop data is kept even
when validation complains, because pydantic skips a claim's balancing check once one of its fields
failed: the caller checks CLM02 against the line charges itself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from x12sdk.io import X12SegmentReader
from x12sdk.parsing import create_parser


def _ends(*names: str) -> Callable[[dict], bool]:
    return lambda e: tuple(str(p) for p in e["loc"][-len(names) :]) == names


_SVD03 = _ends("svd_segment", "composite_medical_procedure_identifier")
_CL101 = _ends("cl1_segment", "admission_type_code")
_DTP02 = _ends("dtp_segment", "date_time_period_format_qualifier")
_DMG03 = _ends("dmg_segment", "gender_code")
# name -> (applies to the transaction, matches the pydantic error): valid per 005010X223A2 /
# X222A1, refused by x12sdk 2.2.0's models.
KNOWN_FALSE_POSITIVES: dict[str, tuple[str, Callable[[dict], bool]]] = {
    "SVD03 absent on revenue-code-only 837I lines (situational in X223A2)": (
        "837I",
        lambda e: _SVD03(e) and e["input"] is None,
    ),
    "CL101 absent on outpatient 837I claims": ("837I", lambda e: _CL101(e) and e["input"] is None),
    "RD8 in 2400 DTP*472 on 837I": (
        "837I",
        lambda e: _DTP02(e) and "loop_2400" in map(str, e["loc"]) and e["input"] == "RD8",
    ),
    "DMG03 = U (unknown gender, valid)": ("both", lambda e: _DMG03(e) and e["input"] == "U"),
}
TRANSACTIONS = {"005010X222A1": "837P", "005010X223A2": "837I"}


@dataclass
class Judged:
    """What x12sdk read from one file: the transaction sets' loop data and its complaints."""

    transaction: str
    sets: list[dict[str, Any]] = field(default_factory=list)
    complaints: list[str] = field(default_factory=list)  # not a known false positive
    known: dict[str, int] = field(default_factory=dict)  # false positive name -> count

    def claims(self) -> list[dict[str, Any]]:
        """Every 2300 loop, in file order."""
        return [
            claim
            for data in self.sets
            for billing in data.get("loop_2000a", [])
            for subscriber in billing.get("loop_2000b", [])
            for claim in subscriber.get("loop_2300", [])
        ]


def _known(transaction: str, error: dict) -> str | None:
    for name, (applies, matches) in KNOWN_FALSE_POSITIVES.items():
        if applies in (transaction, "both") and matches(error):
            return name
    return None


def judge_file(path: Path) -> Judged:
    """Read and validate every transaction set of one 837 file with x12sdk."""
    judged: Judged | None = None
    with X12SegmentReader(str(path)) as reader:
        parser, version = None, None
        for name, fields in reader.segments():
            if name == "GS":
                version = fields[8]
                judged = Judged(TRANSACTIONS[version])
            if name in ("ISA", "GS", "GE", "IEA"):
                continue
            if name == "ST":
                parser = create_parser(fields[1], version, reader.delimiters)
                parser.load_model = _loader(parser, judged)  # type: ignore[method-assign]
            assert parser is not None
            parser.parse(name, fields)
    assert judged is not None, f"{path.name}: no GS segment"
    return judged


def _loader(parser: Any, judged: Judged | None) -> Callable[[], bool]:
    """Replaces x12sdk's load_model: keep the set's loop data, validate it, sort the complaints."""

    def load() -> bool:
        assert judged is not None
        data = parser._context.transaction_data
        judged.sets.append(copy.deepcopy(data))
        try:
            parser._transaction_model(**data)
        except ValidationError as exc:
            for error in exc.errors():
                known = _known(judged.transaction, error)
                if known is None:
                    loc = ".".join(str(p) for p in error["loc"])
                    # where and what, never the value: it may be member data (PHI)
                    judged.complaints.append(f"{loc}: {error['msg']}")
                else:
                    judged.known[known] = judged.known.get(known, 0) + 1
        return True

    return load


def as_list(value: Any) -> list[dict[str, Any]]:
    """x12sdk keeps a segment that may repeat as a list, one that may not as a dict."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class ClaimTotals:
    lines: int
    billed: Decimal
    paid: Decimal
    line_charges: Decimal


def claim_totals(claim: dict[str, Any]) -> ClaimTotals:
    """Lines, CLM02, SVD paid and the sum of the line charges (SV102 / SV203) of one 2300 loop."""
    lines = claim.get("loop_2400", [])
    charges, paid = Decimal(0), Decimal(0)
    for line in lines:
        service = line.get("sv1_segment") or line.get("sv2_segment")
        charges += Decimal(
            service.get("line_item_charge_amount") or service.get("monetary_amount") or "0"
        )
        for adjudication in line.get("loop_2430", []):
            paid += Decimal(adjudication["svd_segment"]["service_line_paid_amount"])
    billed = Decimal(claim["clm_segment"]["total_claim_charge_amount"])
    return ClaimTotals(len(lines), billed, paid, charges)
