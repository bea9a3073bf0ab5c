"""Defects of the 837 content rules (issue #14), and the full defect catalog the generator uses.

Each kind breaks a clean claim so that it fails exactly one of the content rules: the inpatient
admission data (admitting diagnosis, NUBC codes, status against the bill's frequency, hours), the
statement period, HCPCS-required outpatient revenue codes, the payment arrangement, the prior
authorization number, and the FFS $0 warning. ``defects.py`` holds the helpers, ``defects_catalog.py`` the older kinds.
"""

from __future__ import annotations

from .claims import COL, PROFESSIONAL, Claim, money
from .context import iso
from .defects import DefectKind, Env, Variant, _all, _set_claim
from .defects_catalog import DEFECT_KINDS as BASE_KINDS
from .institutional import CAPITATED
from .vocab import NON_BILLABLE_DX

IP, OP, INSTITUTIONAL = ("IP",), ("OP",), ("OP", "IP")
ANY = PROFESSIONAL + INSTITUTIONAL


def _admitting_not_billable(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    code = NON_BILLABLE_DX[env.pick(len(NON_BILLABLE_DX))]
    return _set_claim("admitting_diagnosis", code)(env, claim, rows)


def _statement(first_offset: int, reversed_: bool):
    """Statement dates that leave out every line: starting a day after the claim's first line
    date, or reversed (from after to)."""

    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        start = claim.service_from + first_offset
        end = max(claim.service_end, start)
        first, last = (end + 1, end) if reversed_ else (start, end)
        for row in rows:
            row[COL["statement_from_date"]] = iso(first)
            row[COL["statement_to_date"]] = iso(last)
        return _all(rows)

    return apply


def _uncoded_revenue(revenue_code: str):
    """One outpatient line moved to a revenue code that requires HCPCS, without a code."""

    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        j = env.pick(len(rows))
        rows[j][COL["revenue_code"]] = revenue_code
        rows[j][COL["procedure_code"]] = ""
        return [j]

    return apply


def _ffs_paid_zero(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    """A fee-for-service claim with one line paid $0 (a capitated claim is made FFS first, its
    other lines paid half their charge)."""
    charged = [k for k, row in enumerate(rows) if row[COL["billed_amount"]] != "0.00"]
    j = charged[env.pick(len(charged))] if charged else 0
    if not charged:  # a claim of no-charge codes only (e.g. CPT II): give the line a charge
        rows[j][COL["billed_amount"]] = "25.00"
    for k, row in enumerate(rows):
        if row[COL["payment_arrangement"]] == CAPITATED:
            row[COL["payment_arrangement"]] = "FFS"
            whole, cents = row[COL["billed_amount"]].split(".")
            row[COL["paid_amount"]] = money((int(whole) * 100 + int(cents)) // 2 or 1)
        if k == j:
            row[COL["paid_amount"]] = "0.00"
    return [j]


_V = Variant
CONTENT_KINDS: tuple[DefectKind, ...] = (
    DefectKind(
        "INPATIENT_ADMISSION_MISSING",
        "reject",
        (
            _V("admitting_diagnosis", _set_claim("admitting_diagnosis", ""), IP),
            _V("patient_status", _set_claim("patient_status_code", ""), IP),
            _V("point_of_origin", _set_claim("admission_source_code", ""), IP),
        ),
    ),
    DefectKind(
        "ADMITTING_DX_NOT_BILLABLE", "reject", (_V("category", _admitting_not_billable, IP),)
    ),
    DefectKind(
        "ADMISSION_CODE_INVALID",
        "reject",
        (
            _V("admission_type", _set_claim("admission_type_code", "7"), IP),
            _V("point_of_origin", _set_claim("admission_source_code", "3"), IP),
            _V("patient_status", _set_claim("patient_status_code", "08"), IP),
        ),
    ),
    DefectKind(
        "STATUS_FREQUENCY_INCONSISTENT",
        "reject",
        (_V("still_patient", _set_claim("patient_status_code", "30"), IP),),
    ),
    DefectKind(
        "STATEMENT_DATES_EXCLUDE_LINES",
        "reject",
        (
            _V("starts_late", _statement(1, False), INSTITUTIONAL),
            _V("reversed", _statement(0, True), INSTITUTIONAL),
        ),
    ),
    DefectKind(
        "HCPCS_REQUIRED_FOR_REVENUE",
        "reject",
        (_V("er", _uncoded_revenue("0450"), OP), _V("drug", _uncoded_revenue("0636"), OP)),
    ),
    DefectKind(
        "PAYMENT_ARRANGEMENT_INVALID",
        "reject",
        (
            _V("subcap", _set_claim("payment_arrangement", "SUBCAP"), ANY),
            _V("lower_case", _set_claim("payment_arrangement", "cap"), ANY),
        ),
    ),
    DefectKind(
        "ADMISSION_HOUR_INVALID",
        "reject",
        (
            _V("admission", _set_claim("admission_hour", "24"), IP),
            _V("discharge", _set_claim("discharge_hour", "1260"), IP),
        ),
    ),
    DefectKind(
        "PRIOR_AUTH_FORMAT",
        "reject",
        (_V("symbol", _set_claim("prior_authorization_number", "PA#20260001"), ANY),),
    ),
    DefectKind("FFS_LINE_PAID_ZERO", "warn", (_V("paid_zero", _ffs_paid_zero, ANY),)),
)

DEFECT_KINDS: tuple[DefectKind, ...] = BASE_KINDS + CONTENT_KINDS
KINDS_BY_RULE = {kind.rule: kind for kind in DEFECT_KINDS}


def kinds_for(file_format: str) -> tuple[DefectKind, ...]:
    """The kinds a format can carry (ROW_UNPARSEABLE needs raw CSV text)."""
    if file_format == "parquet":
        return tuple(k for k in DEFECT_KINDS if not k.csv_only)
    return DEFECT_KINDS
