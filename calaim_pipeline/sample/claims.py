"""Clean claim generation: one claim from (plan, month, claim index, its own Random).

A clean claim passes every line rule and carries no warning. The builder takes a few constraints so
the defect layer can ask for a claim it can break in exactly one way (a claim type, a minimum number
of lines, a dedicated member, a paid-date range).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from calaim_pipeline.ingest.contract import ENCOUNTER_COLUMNS

from .context import (
    DATE_MODULUS,
    MONTH_CLASSES,
    SLOTS,
    WINDOW_FAR,
    WINDOW_MIN,
    WINDOW_NEAR,
    MonthCtx,
    distinct_indexes,
    iso,
)
from .institutional import claim_content, institutional_lines, settle
from .people import Org, PlanPeople
from .vocab import (
    BH_ADDON,
    BH_DX,
    BH_PRIMARY,
    CS_CODES,
    ECM_CODES,
    ECM_DX,
    EM_CODES,
    EM_WEIGHTS,
    INPATIENT_DX,
    OUTPATIENT_DX,
    PC_ANCILLARY,
    PC_DX,
    SOCIAL_DX,
    Proc,
    load_ecm_cs,
)

# The generator writes exactly the input contract's columns, in its order: a row is the claim
# header, the line and the claim's optional content (institutional.py), appended to every line.
COL = {name: i for i, name in enumerate(ENCOUNTER_COLUMNS)}
HEADER_WIDTH = COL["paid_date"] + 1  # header = the claim-level prefix of a row (28 fields)
# offsets inside a line list (row index - HEADER_WIDTH)
L_NUM, L_FROM, L_TO, L_PROC, L_MOD1, L_MOD2, L_MOD3, L_MOD4, L_REV, L_POS, L_PTR = range(11)
L_UNITS, L_BILLED, L_PAID = 11, 12, 13
DX1 = COL["diagnosis_1"]

PROFESSIONAL = ("PC", "BH", "ECM", "CS")
INSTITUTIONAL = ("OP", "IP")
ALL_SPECS = PROFESSIONAL + INSTITUTIONAL
_SPEC_WEIGHTS = {"PC": 44, "BH": 22, "ECM": 8, "CS": 8, "OP": 14, "IP": 4}
SPEC_TABLE = tuple(s for s, w in _SPEC_WEIGHTS.items() for _ in range(w))
_ORG_KIND = {"PC": "PC", "BH": "BH", "ECM": "CM", "CS": "CM", "OP": "HOSP", "IP": "HOSP"}

_LINES = {  # spec -> table of line counts (weights expanded)
    "PC": (1,) * 30 + (2,) * 28 + (3,) * 18 + (4,) * 12 + (5,) * 7 + (6,) * 5,
    "BH": (1,) * 60 + (2,) * 30 + (3,) * 10,
    "ECM": (1,) * 70 + (2,) * 30,
    "CS": (1,) * 60 + (2,) * 30 + (3,) * 10,
    "OP": (1,) * 10
    + (2,) * 18
    + (3,) * 20
    + (4,) * 16
    + (5,) * 12
    + (6,) * 10
    + (7,) * 8
    + (8,) * 6,
    "IP": (3,) * 15
    + (4,) * 18
    + (5,) * 17
    + (6,) * 15
    + (7,) * 12
    + (8,) * 10
    + (9,) * 7
    + (10,) * 6,
}
_N_DX = {
    "PC": (1,) * 40 + (2,) * 30 + (3,) * 20 + (4,) * 10,
    "BH": (1,) * 50 + (2,) * 35 + (3,) * 15,
    "ECM": (1,) * 40 + (2,) * 40 + (3,) * 20,
    "CS": (1,) * 40 + (2,) * 40 + (3,) * 20,
    "OP": (1,) * 45 + (2,) * 35 + (3,) * 20,
    "IP": (2,) * 25 + (3,) * 30 + (4,) * 25 + (5,) * 12 + (6,) * 8,
}
_POS = {  # spec -> place-of-service table (telehealth 02/10 included)
    "PC": ("11",) * 78 + ("02",) * 8 + ("10",) * 7 + ("22",) * 4 + ("12",) * 3,
    "BH": ("11",) * 45
    + ("53",) * 20
    + ("02",) * 10
    + ("10",) * 10
    + ("12",) * 7
    + ("27",) * 5
    + ("99",) * 3,
    "ECM": ("12",) * 30
    + ("99",) * 15
    + ("27",) * 15
    + ("11",) * 15
    + ("04",) * 10
    + ("16",) * 5
    + ("02",) * 5
    + ("10",) * 5,
    "CS": ("12",) * 40
    + ("99",) * 15
    + ("27",) * 10
    + ("11",) * 10
    + ("04",) * 15
    + ("16",) * 8
    + ("10",) * 2,
}
_PTRS = {  # number of diagnoses -> pointer strings (first line always starts with 1)
    1: ("1",),
    2: ("1", "1", "1,2", "2"),
    3: ("1", "1,2", "1,2,3", "2", "1,3"),
    4: ("1", "1,2", "1,2,3", "1,2,3,4", "2,3", "1,4"),
}
_ECM_CS = load_ecm_cs()
_LINE_NO = tuple(str(n) for n in range(1001))
_UNITS = tuple(str(n) for n in range(1001))


def _proc_tuple(p: Proc) -> tuple[str, int, int, int, int, tuple[str, ...]]:
    """(code, fee_lo, fee_span, units_lo, units_span, allowed ECM/CS modifiers): flat for speed."""
    return (
        p.code,
        p.fee_lo,
        p.fee_hi - p.fee_lo + 1,
        p.units_lo,
        p.units_hi - p.units_lo + 1,
        _ECM_CS.get(p.code, ()),
    )


def _dx_pool(codes: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(written without the dot, written with it) for a list of codes."""
    return tuple(c.replace(".", "") for c in codes), codes


_EM = tuple(_proc_tuple(p) for p, w in zip(EM_CODES, EM_WEIGHTS, strict=True) for _ in range(w))
_PC_ANC = tuple(_proc_tuple(p) for p in PC_ANCILLARY)
_PC_TELE_ANC = tuple(
    _proc_tuple(p) for p in PC_ANCILLARY if p.code in {"96127", "99401", "G0442", "99406"}
)
_BH_ALL = tuple(_proc_tuple(p) for p in BH_PRIMARY + BH_ADDON)
_BH_N_PRIMARY = len(BH_PRIMARY)
_ECM = tuple(_proc_tuple(p) for p in ECM_CODES)
_CS = tuple(_proc_tuple(p) for p in CS_CODES)
_DX = {
    "PC": _dx_pool(PC_DX),
    "BH": _dx_pool(BH_DX),
    "SOCIAL": _dx_pool(SOCIAL_DX),
    "ECM": _dx_pool(ECM_DX),
    "CS": _dx_pool(ECM_DX),
    "OP": _dx_pool(OUTPATIENT_DX),
    "IP": _dx_pool(INPATIENT_DX),
}
_DX_PAD = tuple(("",) * (12 - n) for n in range(13))  # empty diagnosis slots after n codes


def money(cents: int) -> str:
    """Cents as a 2-decimal amount string."""
    return f"{cents // 100}.{cents % 100:02d}"


def dx_text(code: str, dotted: bool) -> str:
    """A diagnosis as the claim writes it (with or without the dot)."""
    return code if dotted else code.replace(".", "")


@dataclass(slots=True)
class Claim:
    """A generated claim: the claim-level header and the service lines, as strings."""

    index: int
    claim_id: str
    spec: str
    header: list[str]
    lines: list[list[str]]
    n_dx: int
    dotted: bool
    paid: int  # ordinals
    received: int
    service_from: int
    service_end: int
    member: int  # regular member index, or -1

    def rows(self) -> list[list[str]]:
        """Full rows (header + line), fresh lists that a defect may mutate."""
        return [self.header + line for line in self.lines]


def build_claim(
    people: PlanPeople,
    mc: MonthCtx,
    index: int,
    rng: random.Random,
    *,
    max_lines: int,
    specs: tuple[str, ...] | None = None,
    min_lines: int = 1,
    cin: str | None = None,
    paid_range: tuple[int, int] | None = None,
) -> Claim:
    """Generate claim `index` of the month; with no constraints it is a pure function of the rng.

    cin: use this member (a dedicated or off-roster CIN) instead of the claim's regular member;
    its service date is then free of the duplicate-key date design.
    """
    rnd = rng.random
    u = rnd()
    spec = SPEC_TABLE[int(u * len(SPEC_TABLE))] if specs is None else specs[int(u * len(specs))]
    if paid_range is None:
        paid = mc.start + int(rnd() * (mc.end - mc.start + 1))
    else:
        paid = paid_range[0] + int(rnd() * (paid_range[1] - paid_range[0] + 1))

    # member and first date of service
    if cin is None:
        member = (index * people.member_mult + people.member_add) % people.n_members
        slot = index // people.n_members
        if slot >= SLOTS:
            raise ValueError("more claims than the member/date design supports")
        cin = people.regular_cin(member)
        residue = (mc.serial % MONTH_CLASSES) * SLOTS + slot
        first = paid - WINDOW_FAR + (residue - (paid - WINDOW_FAR)) % DATE_MODULUS
        n_cand = (paid - WINDOW_MIN - first) // DATE_MODULUS + 1
        near = -(-(paid - WINDOW_NEAR - first) // DATE_MODULUS)
        if near < 0:
            near = 0
        if near >= n_cand or (near > 0 and rnd() >= 0.96):
            k = int(rnd() * near)
        else:
            k = near + int(rnd() * (n_cand - near))
        start = first + k * DATE_MODULUS
    else:
        member = -1
        start = paid - WINDOW_MIN - int(rnd() * (WINDOW_NEAR - WINDOW_MIN + 1))

    n_lines = _LINES[spec][int(rnd() * 100)]
    if n_lines < min_lines:
        n_lines = min_lines
    n_dx = _N_DX[spec][int(rnd() * 100)]
    dotted = rnd() < 0.7
    orgs = people.orgs[_ORG_KIND[spec]]
    org: Org = orgs[int(rnd() * len(orgs))]
    staff = org.staff
    staff_npi, staff_tax = staff[int(rnd() * len(staff))]
    start_s = iso(start)

    # diagnoses: distinct codes from the specialty's list (BH: a social Z code may lead)
    pool = _DX[spec][dotted]
    if spec == "BH" and rnd() < 0.3:
        social = _DX["SOCIAL"][dotted]
        dxs = [social[int(rnd() * len(social))]]
        dxs += [pool[j] for j in distinct_indexes(rnd, len(pool), n_dx - 1)] if n_dx > 1 else []
    else:
        dxs = [pool[j] for j in distinct_indexes(rnd, len(pool), n_dx)]

    if spec == "OP" or spec == "IP":
        lines, end = institutional_lines(spec, rnd, n_lines, start, start_s, paid)
        if spec == "IP":
            head = [
                "I",
                "1",
                "",
                cin,
                org.npi,
                org.taxonomy,
                "",
                "",
                staff_npi,
                "11",
                start_s,
                iso(end),
            ]
        else:
            head = ["I", "1", "", cin, org.npi, org.taxonomy, "", "", staff_npi, "13", "", ""]
    else:
        lines = _professional(spec, rnd, n_lines, n_dx, start_s)
        end = start
        head = ["P", "1", "", cin, org.npi, org.taxonomy, staff_npi, staff_tax, "", "", "", ""]
    if len(lines) > max_lines:
        del lines[max_lines:]
    received = end + int(rnd() * (paid - end + 1))
    settle(lines, claim_content(spec, rnd, org.npi, dxs, start, end), rnd)
    claim_id = f"{people.code}-{mc.yyyymm}-{index:08d}"
    header = [people.code, claim_id, *head, *dxs, *_DX_PAD[n_dx], iso(received), iso(paid)]
    return Claim(
        index, claim_id, spec, header, lines, n_dx, dotted, paid, received, start, end, member
    )


def _professional(spec: str, rnd, n_lines: int, n_dx: int, start_s: str) -> list[list[str]]:
    pos = _POS[spec][int(rnd() * 100)]
    tele = pos == "02" or pos == "10"
    tele_mod = "95" if rnd() < 0.8 else "93"
    to_s = start_s if rnd() < 0.45 else ""
    if spec == "PC":
        anc = _PC_TELE_ANC if tele else _PC_ANC
        k = n_lines - 1 if n_lines <= len(anc) else len(anc)
        procs = [_EM[int(rnd() * len(_EM))], *(anc[j] for j in distinct_indexes(rnd, len(anc), k))]
    elif spec == "BH":
        j0 = int(rnd() * _BH_N_PRIMARY)
        procs = [_BH_ALL[j0]]
        while len(procs) < n_lines:
            j = int(rnd() * len(_BH_ALL))
            if _BH_ALL[j] not in procs:
                procs.append(_BH_ALL[j])
    elif spec == "ECM":
        procs = [_ECM[j] for j in distinct_indexes(rnd, len(_ECM), min(n_lines, len(_ECM)))]
    else:  # CS
        procs = [_CS[j] for j in distinct_indexes(rnd, len(_CS), n_lines)]
    ptrs = _PTRS[n_dx if n_dx < 4 else 4]
    n_ptrs = len(ptrs)
    pc_25 = spec == "PC" and len(procs) > 1 and not tele
    lines = []
    for n, (code, fee_lo, fee_span, u_lo, u_span, allowed) in enumerate(procs, 1):
        units = u_lo + int(rnd() * u_span) if u_span > 1 else u_lo
        billed = (fee_lo + int(rnd() * fee_span)) * units
        r = rnd()
        paid = 0 if r < 0.1 else int(billed * (0.45 + r * 0.5))
        m1 = m2 = ""
        if allowed:
            m1 = allowed[int(rnd() * len(allowed))]
            if tele:
                m2 = "GQ" if rnd() < 0.5 else tele_mod
        elif tele:
            m1 = tele_mod
        elif n == 1 and pc_25 and rnd() < 0.25:
            m1 = "25"
        ptr = "1" if n == 1 and rnd() < 0.7 else ptrs[int(rnd() * n_ptrs)]
        lines.append(
            [
                _LINE_NO[n],
                start_s,
                to_s,
                code,
                m1,
                m2,
                "",
                "",
                "",
                pos,
                ptr,
                _UNITS[units],
                f"{billed // 100}.{billed % 100:02d}",
                f"{paid // 100}.{paid % 100:02d}",
            ]
        )
    return lines
