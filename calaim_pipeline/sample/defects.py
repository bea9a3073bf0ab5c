"""Defect injection: each kind breaks a clean claim so it fails exactly one line rule.

A kind names the rule it trips and how a claim must look before it can be broken that way (claim
type, lines, a dedicated member, a paid-date range). `apply` mutates the claim's rows and returns the
indexes of the rows that carry the rule; the generator derives the truth from that (reject rules,
CLAIM_HAS_REJECTED_LINE on siblings, warn rules). Claim-level fields are broken on every line (so
CLAIM_FIELDS_DISAGREE stays quiet); line-level fields on one line.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from . import identifiers as ids
from .claims import (
    COL,
    DX1,
    INSTITUTIONAL,
    PROFESSIONAL,
    Claim,
    dx_text,
)
from .context import MonthCtx, iso
from .people import ENROLL_START, Dedicated, PlanPeople
from .vocab import (
    CIN_EXCLUDED_LETTERS,
    INPATIENT_DX,
    INVALID_POS,
    NON_BILLABLE_DX,
    TAX,
    TELEHEALTH_POS,
    UNKNOWN_DX,
    load_ecm_cs,
    load_plans,
    units_bound,
)

CLAIM_HAS_REJECTED_LINE = "CLAIM_HAS_REJECTED_LINE"
DUPLICATE_LINE_IN_MONTH = "DUPLICATE_LINE_IN_MONTH"
ROW_UNPARSEABLE = "ROW_UNPARSEABLE"
MODS = (COL["modifier_1"], COL["modifier_2"], COL["modifier_3"], COL["modifier_4"])
_ECM_CS = load_ecm_cs()
_TELE_MODS = {"95", "93", "GQ"}


@dataclass(slots=True)
class Env:
    """What a defect may use besides the claim: the plan, the month, the claim's rng."""

    people: PlanPeople
    month: MonthCtx
    rng: random.Random
    dedicated: Dedicated | None  # the claim's dedicated roster member, when the variant asked
    counter: int  # per plan-month defect counter (unique ids for off-roster/off-directory)

    def pick(self, n: int) -> int:
        """A row index in 0..n-1."""
        return int(self.rng.random() * n)


Apply = Callable[[Env, Claim, list[list[str]]], list[int]]


@dataclass(frozen=True, slots=True)
class Variant:
    """One way to trip the rule, with the claim it needs."""

    name: str
    apply: Apply
    specs: tuple[str, ...] | None = None  # allowed claim specialties (None = any)
    min_lines: int = 1
    member: str = "regular"  # regular | dedicated | off_roster
    paid: str = "month"  # month | early (paid <= month end - 3) | before (previous month)


@dataclass(frozen=True, slots=True)
class DefectKind:
    """A rule and the variants that trip it."""

    rule: str
    severity: str  # reject | warn
    variants: tuple[Variant, ...]
    csv_only: bool = False
    copies_line: bool = False  # DUPLICATE_LINE_IN_MONTH: needs an earlier clean claim in the file
    # Only from a run's second month, when real replacements exist: in a month whose only 7/8
    # claims are defects, the original_claim_id completeness check would fail on otherwise fine data.
    after_first_month: bool = False


# ------------------------------------------------------------------------------------- helpers


def _all(rows: list[list[str]]) -> list[int]:
    return list(range(len(rows)))


def _set_claim(col: str, value: str) -> Apply:
    """Claim-level field set to `value` on every line."""
    idx = COL[col]

    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        for row in rows:
            row[idx] = value
        return _all(rows)

    return apply


def _set_line(col: str, value: str | Callable[[Env, Claim, list[str]], str]) -> Apply:
    """Line-level field set on one line."""
    idx = COL[col]

    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        j = env.pick(len(rows))
        rows[j][idx] = value(env, claim, rows[j]) if callable(value) else value
        return [j]

    return apply


def _with_rows(fn: Callable[[Env, Claim, list[list[str]]], None]) -> Apply:
    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        fn(env, claim, rows)
        return _all(rows)

    return apply


P = PROFESSIONAL
I_ = INSTITUTIONAL


def _other_plan(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    others = [p["code"] for p in load_plans() if p["code"] != env.people.code]
    value = others[env.pick(len(others))] if others else "XPLAN"
    return _set_claim("plan_code", value)(env, claim, rows)


def _cin_excluded_letter(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    cin = rows[0][COL["member_cin"]]
    letter = CIN_EXCLUDED_LETTERS[env.pick(len(CIN_EXCLUDED_LETTERS))]
    return _set_claim("member_cin", cin[:8] + letter)(env, claim, rows)


def _cin_short(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    cin = rows[0][COL["member_cin"]]
    return _set_claim("member_cin", cin[:7] + cin[8])(env, claim, rows)


def _corrupt_claim_npi(col: str) -> Apply:
    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        return _set_claim(col, ids.corrupt_npi(rows[0][COL[col]]))(env, claim, rows)

    return apply


def _bad_taxonomy(tax: str, env: Env) -> str:
    return tax[:9] if env.rng.random() < 0.5 else tax[:4] + "-" + tax[5:]


def _billing_taxonomy_bad(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    return _set_claim("billing_taxonomy", _bad_taxonomy(rows[0][COL["billing_taxonomy"]], env))(
        env, claim, rows
    )


def _modifier_bad(value: str) -> Apply:
    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        j = env.pick(len(rows))
        row = rows[j]
        slot = next(m for m in MODS if not row[m])
        row[slot] = value
        return [j]

    return apply


def _ecm_no_modifier(wrong: bool) -> Apply:
    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        j = env.pick(len(rows))
        row = rows[j]
        for m in MODS:
            row[m] = ""
        if row[COL["place_of_service"]] in TELEHEALTH_POS:
            row[COL["place_of_service"]] = "12"  # no telehealth warning on this line
        if wrong:
            allowed = set(_ECM_CS[row[COL["procedure_code"]]])
            choices = [f"U{k}" for k in range(1, 10) if f"U{k}" not in allowed]
            row[MODS[0]] = choices[env.pick(len(choices))]
        return [j]

    return apply


def _non_billable_dx(codes: tuple[str, ...]) -> Apply:
    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        position = env.pick(claim.n_dx)
        code = dx_text(codes[env.pick(len(codes))], claim.dotted)
        for row in rows:
            row[DX1 + position] = code
        return _all(rows)

    return apply


def _bad_calendar_date(env: Env, claim: Claim, row: list[str]) -> str:
    year = date.fromordinal(claim.paid).year
    return f"{year}-02-30" if env.rng.random() < 0.5 else f"{year}-04-31"


def _us_received(env: Env, claim: Claim, rows: list[list[str]]) -> None:
    d = date.fromordinal(claim.received)
    for row in rows:
        row[COL["received_date"]] = f"{d.month:02d}/{d.day:02d}/{d.year}"


def _to_before_from(env: Env, claim: Claim, row: list[str]) -> str:
    return iso(claim.service_from - 1 - env.pick(5))


def _service_after_paid(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    j = env.pick(len(rows))
    rows[j][COL["service_from_date"]] = iso(claim.paid + 1 + env.pick(2))
    rows[j][COL["service_to_date"]] = ""
    return [j]


def _received_after_paid(env: Env, claim: Claim, rows: list[list[str]]) -> None:
    value = iso(claim.paid + 1 + env.pick(3))
    for row in rows:
        row[COL["received_date"]] = value


def _paid_over_365(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    j = env.pick(len(rows))
    rows[j][COL["service_from_date"]] = iso(claim.paid - 380 - env.pick(180))
    rows[j][COL["service_to_date"]] = ""
    return [j]


def _billed_negative(env: Env, claim: Claim, row: list[str]) -> str:
    return "-" + row[COL["billed_amount"]] if row[COL["billed_amount"]] != "0.00" else "-5.00"


def _paid_three_decimals(env: Env, claim: Claim, row: list[str]) -> str:
    return row[COL["paid_amount"]] + str(1 + env.pick(9))


def _paid_over_billed(env: Env, claim: Claim, row: list[str]) -> str:
    billed = row[COL["billed_amount"]]
    whole, cents = billed.split(".")
    total = int(whole) * 100 + int(cents) + 1 + env.pick(5000)
    return f"{total // 100}.{total % 100:02d}"


def _units_over_bound(env: Env, claim: Claim, row: list[str]) -> str:
    return str(units_bound(row[COL["procedure_code"]]) + 1 + env.pick(3))


def _disagree_taxonomy(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    j = env.pick(len(rows))
    current = rows[j][COL["billing_taxonomy"]]
    pool = [t for t in TAX["PC_ORG"] + TAX["BH_ORG"] + TAX["CM_ORG"] if t != current]
    rows[j][COL["billing_taxonomy"]] = pool[env.pick(len(pool))]
    return _all(rows)


def _disagree_received(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    j = env.pick(len(rows))
    rows[j][COL["received_date"]] = iso(claim.received - 1)
    return _all(rows)


def _disagree_diagnosis(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    j = env.pick(len(rows))
    present = {rows[j][DX1 + k] for k in range(claim.n_dx)}
    extra = next(
        dx_text(c, claim.dotted) for c in INPATIENT_DX if dx_text(c, claim.dotted) not in present
    )
    rows[j][DX1 + claim.n_dx] = extra
    return _all(rows)


def _line_number_duplicate(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    j = 1 + env.pick(len(rows) - 1)
    rows[j][COL["line_number"]] = rows[j - 1][COL["line_number"]]
    return [j - 1, j]


def _pointer_absent(env: Env, claim: Claim, row: list[str]) -> str:
    return str(claim.n_dx + 1 + env.pick(12 - claim.n_dx))


def _original_missing(frequency: str) -> Apply:
    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        for row in rows:
            row[COL["frequency_code"]] = frequency
            row[COL["original_claim_id"]] = ""
        return _all(rows)

    return apply


def _off_directory(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    npi = env.people.off_directory_npi(env.month.serial, env.counter)
    return _set_claim("billing_npi", npi)(env, claim, rows)


def _incomplete_billing(which: int) -> Apply:
    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        npi, taxonomy = env.people.incomplete_billing[which]
        for row in rows:
            row[COL["billing_npi"]] = npi
            row[COL["billing_taxonomy"]] = taxonomy
        return _all(rows)

    return apply


def _broken_directory_row(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    npi, taxonomy = env.people.broken_directory_row
    for row in rows:
        row[COL["billing_npi"]] = npi
        row[COL["billing_taxonomy"]] = taxonomy
    return _all(rows)


def _broken_span(start: str, end: str) -> Apply:
    """The dedicated member's only roster row fails a roster rule (roster_rejects)."""

    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        assert env.dedicated is not None
        env.dedicated.spans = [(start, end)]
        return _all(rows)

    return apply


def _ended_span(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    assert env.dedicated is not None
    env.dedicated.spans = [(ENROLL_START, iso(claim.service_from - 1 - env.pick(60)))]
    return _all(rows)


def _dedicated_attr(attr: str, value: str) -> Apply:
    def apply(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
        assert env.dedicated is not None
        setattr(env.dedicated, attr, value)
        return _all(rows)

    return apply


def _telehealth_without_modifier(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    j = env.pick(len(rows))
    row = rows[j]
    row[COL["place_of_service"]] = TELEHEALTH_POS[env.pick(2)]
    kept = [row[m] for m in MODS if row[m] and row[m] not in _TELE_MODS]
    kept += [""] * (4 - len(kept))
    for m, value in zip(MODS, kept, strict=True):
        row[m] = value
    return [j]


def _unparseable_extra_field(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    j = env.pick(len(rows))
    rows[j].append("EXTRA")
    return [j]


def _unparseable_byte(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    j = env.pick(len(rows))
    rows[j][MODS[3]] = "\udcff"  # written as the raw byte 0xFF (surrogateescape)
    return [j]


def _copy_line(env: Env, claim: Claim, rows: list[list[str]]) -> list[int]:
    return [0]  # the generator builds the copy; nothing to mutate


# ------------------------------------------------------------------------------------ the catalog

_V = Variant
_REQ = "REQ_FIELD_MISSING"

DEFECT_KINDS: tuple[DefectKind, ...] = (
    DefectKind(
        _REQ,
        "reject",
        (
            _V("billing_taxonomy", _set_claim("billing_taxonomy", "")),
            _V("rendering_taxonomy", _set_line("rendering_taxonomy", ""), P),
            _V("attending_npi", _set_claim("attending_npi", ""), I_),
            _V("received_date", _set_claim("received_date", "")),
            _V("place_of_service", _set_line("place_of_service", ""), P),
            _V("revenue_code", _set_line("revenue_code", ""), I_),
            _V("billed_amount", _set_line("billed_amount", "")),
            _V("diagnosis_pointers", _set_line("diagnosis_pointers", ""), P),
            _V("facility_type_code", _set_claim("facility_type_code", ""), I_),
            _V("paid_date", _set_claim("paid_date", "")),
            _V("procedure_code", _set_line("procedure_code", ""), P),
            _V("admission_date", _set_claim("admission_date", ""), ("IP",)),
            _V("paid_amount", _set_line("paid_amount", "")),
            _V("rendering_npi", _set_line("rendering_npi", ""), P),
            _V("diagnosis_1", _set_claim("diagnosis_1", ""), I_),
        ),
    ),
    DefectKind("PLAN_CODE_MISMATCH", "reject", (_V("other_plan", _other_plan),)),
    DefectKind(
        "CLAIM_ID_FORMAT",
        "reject",
        (
            _V(
                "underscores",
                lambda e, c, r: _set_claim("claim_id", c.claim_id.replace("-", "_"))(e, c, r),
            ),
            _V(
                "too_long",
                lambda e, c, r: _set_claim("claim_id", c.claim_id + "-" + "X" * 20)(e, c, r),
            ),
        ),
    ),
    DefectKind(
        "CLAIM_TYPE_INVALID",
        "reject",
        (
            _V("X", _set_claim("claim_type", "X")),
            _V("D", _set_claim("claim_type", "D")),
        ),
    ),
    DefectKind(
        "FREQUENCY_CODE_INVALID",
        "reject",
        (
            _V("2", _set_claim("frequency_code", "2")),
            _V("9", _set_claim("frequency_code", "9")),
        ),
    ),
    DefectKind(
        "CIN_FORMAT",
        "reject",
        (
            _V("excluded_letter", _cin_excluded_letter),
            _V("eight_chars", _cin_short),
        ),
    ),
    DefectKind(
        "BILLING_NPI_INVALID", "reject", (_V("check_digit", _corrupt_claim_npi("billing_npi")),)
    ),
    DefectKind(
        "RENDERING_NPI_INVALID",
        "reject",
        (
            _V(
                "check_digit",
                _set_line(
                    "rendering_npi", lambda e, c, row: ids.corrupt_npi(row[COL["rendering_npi"]])
                ),
                P,
            ),
        ),
    ),
    DefectKind(
        "ATTENDING_NPI_INVALID",
        "reject",
        (_V("check_digit", _corrupt_claim_npi("attending_npi"), I_),),
    ),
    DefectKind(
        "TAXONOMY_FORMAT",
        "reject",
        (
            _V("billing", _billing_taxonomy_bad),
            _V(
                "rendering",
                _set_line(
                    "rendering_taxonomy",
                    lambda e, c, row: _bad_taxonomy(row[COL["rendering_taxonomy"]], e),
                ),
                P,
            ),
        ),
    ),
    DefectKind(
        "PROCEDURE_CODE_FORMAT",
        "reject",
        tuple(_V(v, _set_line("procedure_code", v), P) for v in ("99X13", "9921", "G90081")),
    ),
    DefectKind(
        "MODIFIER_FORMAT", "reject", tuple(_V(v, _modifier_bad(v), P) for v in ("XYZ", "A"))
    ),
    DefectKind(
        "POS_INVALID",
        "reject",
        tuple(_V(v, _set_line("place_of_service", v), P) for v in INVALID_POS),
    ),
    DefectKind(
        "REVENUE_CODE_INVALID",
        "reject",
        tuple(_V(v, _set_line("revenue_code", v), I_) for v in ("1234", "0012")),
    ),
    DefectKind(
        "FACILITY_TYPE_INVALID",
        "reject",
        tuple(_V(v, _set_claim("facility_type_code", v), ("OP",)) for v in ("90", "10")),
    ),
    DefectKind(
        "LINE_NUMBER_INVALID",
        "reject",
        (
            _V("x", _set_line("line_number", "x")),
            _V("zero", _set_line("line_number", "0")),
            _V("51_professional", _set_line("line_number", "51"), P),
            _V("1000_institutional", _set_line("line_number", "1000"), I_),
        ),
    ),
    DefectKind(
        "GENDER_INVALID",
        "reject",
        (
            _V("X", _dedicated_attr("gender", "X"), member="dedicated"),
            _V("empty", _dedicated_attr("gender", ""), member="dedicated"),
        ),
    ),
    DefectKind(
        "COUNTY_INVALID",
        "reject",
        tuple(_V(v, _dedicated_attr("county", v), member="dedicated") for v in ("00", "59", "99")),
    ),
    DefectKind(
        "ICD10_NOT_BILLABLE",
        "reject",
        (
            _V("category", _non_billable_dx(NON_BILLABLE_DX)),
            _V("unknown", _non_billable_dx(UNKNOWN_DX)),
        ),
    ),
    DefectKind(
        "DATE_UNPARSEABLE",
        "reject",
        (
            _V("service_to_calendar", _set_line("service_to_date", _bad_calendar_date)),
            _V("received_us_format", _with_rows(_us_received)),
        ),
    ),
    DefectKind(
        "DATE_IN_FUTURE",
        "reject",
        (
            _V("service_to", _set_line("service_to_date", "2099-01-01"), P),
            _V("discharge", _set_claim("discharge_date", "2099-01-01"), ("IP",)),
        ),
    ),
    DefectKind(
        "SERVICE_TO_BEFORE_FROM",
        "reject",
        (_V("to_before_from", _set_line("service_to_date", _to_before_from)),),
    ),
    DefectKind(
        "SERVICE_AFTER_PAID",
        "reject",
        (_V("from_after_paid", _service_after_paid, P, member="dedicated", paid="early"),),
    ),
    DefectKind(
        "RECEIVED_AFTER_PAID",
        "reject",
        (_V("received_after_paid", _with_rows(_received_after_paid), paid="early"),),
    ),
    DefectKind(
        "PAID_OUTSIDE_MONTH",
        "reject",
        (_V("paid_last_month", lambda e, c, r: _all(r), paid="before"),),
    ),
    DefectKind(
        "UNITS_INVALID",
        "reject",
        (
            _V("zero", _set_line("units", "0")),
            _V("negative", _set_line("units", "-1")),
        ),
    ),
    DefectKind(
        "AMOUNT_INVALID",
        "reject",
        (
            _V("billed_negative", _set_line("billed_amount", _billed_negative)),
            _V("paid_three_decimals", _set_line("paid_amount", _paid_three_decimals)),
        ),
    ),
    DefectKind(
        "CLAIM_FIELDS_DISAGREE",
        "reject",
        (
            _V("billing_taxonomy", _disagree_taxonomy, min_lines=2),
            _V("received_date", _disagree_received, min_lines=2),
            _V("extra_diagnosis", _disagree_diagnosis, min_lines=2),
        ),
    ),
    DefectKind(
        "LINE_NUMBER_DUPLICATE", "reject", (_V("repeat", _line_number_duplicate, min_lines=2),)
    ),
    DefectKind(
        "DX_POINTER_INVALID",
        "reject",
        (
            _V("absent", _set_line("diagnosis_pointers", _pointer_absent), P),
            _V("malformed", _set_line("diagnosis_pointers", "x"), P),
        ),
    ),
    DefectKind(
        "ECM_CS_MODIFIER_MISSING",
        "reject",
        (
            _V("no_modifier", _ecm_no_modifier(False), ("ECM", "CS")),
            _V("wrong_modifier", _ecm_no_modifier(True), ("ECM", "CS")),
        ),
    ),
    DefectKind(
        "ORIGINAL_CLAIM_MISSING",
        "reject",
        (
            _V("replacement", _original_missing("7")),
            _V("void", _original_missing("8")),
        ),
        after_first_month=True,
    ),
    DefectKind(
        "MEMBER_NOT_ENROLLED",
        "reject",
        (
            _V("off_roster", lambda e, c, r: _all(r), member="off_roster"),
            _V("span_ended", _ended_span, member="dedicated"),
        ),
    ),
    DefectKind(
        "BILLING_PROVIDER_UNKNOWN",
        "reject",
        (
            _V("off_directory", _off_directory),
            _V("zip5", _incomplete_billing(0)),
            _V("no_tax_id", _incomplete_billing(1)),
            _V("short_tax_id", _incomplete_billing(2)),
        ),
    ),
    DefectKind(
        "MEMBER_ON_REJECTED_ROSTER_ROW",
        "reject",
        (
            _V("start_not_a_date", _broken_span("2020-02-30", ""), member="dedicated"),
            _V("end_not_a_date", _broken_span(ENROLL_START, "12/31/2099"), member="dedicated"),
        ),
    ),
    DefectKind(
        "BILLING_PROVIDER_ON_REJECTED_ROSTER_ROW",
        "reject",
        (_V("directory_row_field_count", _broken_directory_row),),
    ),
    DefectKind(DUPLICATE_LINE_IN_MONTH, "reject", (_V("copy", _copy_line),), copies_line=True),
    DefectKind(
        ROW_UNPARSEABLE,
        "reject",
        (
            _V("extra_field", _unparseable_extra_field, min_lines=2),
            _V("bad_utf8", _unparseable_byte, min_lines=2),
        ),
        csv_only=True,
    ),
    DefectKind(
        "TELEHEALTH_MODIFIER_MISSING", "warn", (_V("no_modifier", _telehealth_without_modifier, P),)
    ),
    DefectKind(
        "PAID_EXCEEDS_BILLED",
        "warn",
        (_V("overpaid", _set_line("paid_amount", _paid_over_billed)),),
    ),
    DefectKind(
        "UNITS_ABOVE_BOUND", "warn", (_V("units", _set_line("units", _units_over_bound), P),)
    ),
    DefectKind(
        "PAID_OVER_365_DAYS", "warn", (_V("old_service", _paid_over_365, P, member="dedicated"),)
    ),
)


def dedicated_member(people: PlanPeople, month: MonthCtx, counter: int) -> Dedicated:
    """A fresh roster member for one defective claim of this plan-month."""
    if counter >= ids.CIN_BLOCK:
        raise ValueError("too many dedicated members in one plan-month")
    index = ids.CIN_DEDICATED_BASE + (month.serial % ids.CIN_MONTH_CYCLE) * ids.CIN_BLOCK + counter
    return Dedicated(index=index, cin=people.cin(index))


def off_roster_cin(people: PlanPeople, month: MonthCtx, counter: int) -> str:
    """A valid-format CIN on no roster of this plan."""
    index = (
        ids.CIN_OFF_ROSTER_BASE
        + (month.serial % ids.CIN_MONTH_CYCLE) * ids.CIN_BLOCK
        + counter % ids.CIN_BLOCK
    )
    return people.cin(index)


@dataclass(slots=True)
class Outcome:
    """Truth for the rows of one claim."""

    rejects: list[set[str]] = field(default_factory=list)
    warns: list[set[str]] = field(default_factory=list)


def outcome_for(kind: DefectKind, n_rows: int, flagged: list[int]) -> Outcome:
    """Per-row reject/warn rule sets, applying claim atomicity."""
    out = Outcome([set() for _ in range(n_rows)], [set() for _ in range(n_rows)])
    target = out.rejects if kind.severity == "reject" else out.warns
    for j in flagged:
        target[j].add(kind.rule)
    if kind.severity == "reject":
        for j in range(n_rows):
            if not out.rejects[j]:
                out.rejects[j].add(CLAIM_HAS_REJECTED_LINE)
    return out
