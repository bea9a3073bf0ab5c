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
    TAX,
    TELEHEALTH_POS,
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
