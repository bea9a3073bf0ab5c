"""The 837I lines of a clean institutional claim and every claim's situational content (issue #14):
admission and discharge data, statement period, payment arrangement and prior authorization.

Split from ``claims.py`` (which calls it): a clean claim must pass the content rules too, so an
outpatient line whose revenue code requires a HCPCS code always gets one, a fee-for-service line is
never paid $0 (FFS_LINE_PAID_ZERO warns), and a capitated claim's lines are paid $0 (its 837
reports the charge under CARC 24). The content is appended to every line (it is claim-level),
in the contract's column order after ``paid_amount``.
"""

from __future__ import annotations

from calaim_pipeline.catalog.code_lists import hcpcs_revenue_ranges
from calaim_pipeline.ingest.contract import ENCOUNTER_COLUMNS, OPTIONAL_CLAIM_COLUMNS

from .context import distinct_indexes, iso
from .vocab import INPATIENT_REVS, INPATIENT_ROOM, OUTPATIENT_REVS, Rev

CONTENT_WIDTH = len(OPTIONAL_CLAIM_COLUMNS)
CONTENT_AT = {name: i for i, name in enumerate(OPTIONAL_CLAIM_COLUMNS)}
assert (
    ENCOUNTER_COLUMNS[-CONTENT_WIDTH:] == OPTIONAL_CLAIM_COLUMNS
)  # rows = header + line + content
_RANGES = tuple((r.first_code, r.last_code) for r in hcpcs_revenue_ranges())
CAPITATED, FEE_FOR_SERVICE = "CAP", "FFS"
_ADMISSION_TYPES = ("1",) * 55 + ("2",) * 20 + ("3",) * 20 + ("5",) * 5
_ORIGINS = {"1": ("1", "1", "1", "4", "5", "2"), "2": ("1", "2"), "3": ("2", "2", "1"), "5": ("1",)}
_DISCHARGE = ("01",) * 70 + ("06",) * 10 + ("03",) * 8 + ("62",) * 5 + ("07",) * 3 + ("20",) * 2
_DISCHARGE += ("02",) * 2


def requires_hcpcs(revenue_code: str) -> bool:
    """Whether an outpatient line with this revenue code must carry a HCPCS/CPT code."""
    return any(first <= revenue_code <= last for first, last in _RANGES)


def _rev(r: Rev) -> tuple[str, tuple[str, ...], int, int, int, int, bool]:
    required = bool(r.procs) and requires_hcpcs(r.code)
    return (
        r.code,
        r.procs,
        r.fee_lo,
        r.fee_hi - r.fee_lo + 1,
        r.units_lo,
        r.units_hi - r.units_lo + 1,
        required,
    )


_OP_REVS = tuple(_rev(r) for r in OUTPATIENT_REVS)
_IP_REVS = tuple(_rev(r) for r in INPATIENT_REVS)
_IP_ROOM = _rev(INPATIENT_ROOM)
for _r in OUTPATIENT_REVS:  # the vocabulary must let every clean outpatient line be coded
    if requires_hcpcs(_r.code) and not _r.procs:
        raise ValueError(f"sample vocabulary: outpatient revenue code {_r.code} needs HCPCS codes")


def institutional_lines(
    spec: str, rnd, n_lines: int, start: int, start_s: str, paid_day: int
) -> tuple[list[list[str]], int]:
    """The 837I lines (14 fields each) of an inpatient (IP) or outpatient (OP) claim, and its end."""
    if spec == "IP":
        stay = 1 + int(rnd() * 6)
        if stay > paid_day - 2 - start:
            stay = paid_day - 2 - start
        end = start + stay
        revs = [_IP_ROOM, *(_IP_REVS[j] for j in distinct_indexes(rnd, len(_IP_REVS), n_lines - 1))]
        proc_share = 0.3
        end_s = iso(end)
    else:
        stay, end, end_s, proc_share = 0, start, start_s, 0.7
        revs = [_OP_REVS[j] for j in distinct_indexes(rnd, len(_OP_REVS), n_lines)]
    to_default = start_s if rnd() < 0.5 else ""
    lines = []
    for n, rev in enumerate(revs, 1):
        code, procs, fee_lo, fee_span, u_lo, u_span, required = rev
        if rev is _IP_ROOM:
            units, to_s = stay, end_s
        else:
            units = u_lo + int(rnd() * u_span) if u_span > 1 else u_lo
            to_s = to_default
        proc = ""
        if procs and (rnd() < proc_share or (spec == "OP" and required)):
            proc = procs[int(rnd() * len(procs))]
        billed = (fee_lo + int(rnd() * fee_span)) * units
        r = rnd()
        paid = 0 if r < 0.1 else int(billed * (0.45 + r * 0.5))
        lines.append(
            [str(n), start_s, to_s, proc, "", "", "", "", code, "", "", str(units),
             f"{billed // 100}.{billed % 100:02d}", f"{paid // 100}.{paid % 100:02d}"]
        )  # fmt: skip
    return lines, end


def _hour(rnd, minutes: bool) -> str:
    hour = f"{int(rnd() * 24):02d}"
    return hour + f"{int(rnd() * 60):02d}" if minutes else hour


def arrangement(spec: str, org_npi: str) -> str:
    """The provider's payment arrangement: community providers (clinics, behavioral health, care
    management) are capitated or sub-capitated by NPI, hospitals paid fee for service; half the
    FFS providers leave the column empty (the contract's default)."""
    bucket = int(org_npi[4:8]) % 10
    if spec not in ("OP", "IP") and bucket < 4:
        return CAPITATED
    return FEE_FOR_SERVICE if bucket % 2 else ""


def claim_content(spec: str, rnd, org_npi: str, dxs: list[str], start: int, end: int) -> list[str]:
    """The claim's optional content columns (OPTIONAL_CLAIM_COLUMNS order)."""
    out = [""] * CONTENT_WIDTH
    at = CONTENT_AT
    out[at["payment_arrangement"]] = arrangement(spec, org_npi)
    if spec == "IP":
        kind = _ADMISSION_TYPES[int(rnd() * len(_ADMISSION_TYPES))]
        origins = _ORIGINS[kind]
        out[at["admitting_diagnosis"]] = dxs[int(rnd() * len(dxs))]
        out[at["admission_type_code"]] = kind
        out[at["admission_source_code"]] = origins[int(rnd() * len(origins))]
        out[at["patient_status_code"]] = _DISCHARGE[int(rnd() * len(_DISCHARGE))]
        u = rnd()
        out[at["admission_hour"]] = _hour(rnd, u < 0.3) if u < 0.8 else ""
        out[at["discharge_hour"]] = _hour(rnd, True) if rnd() < 0.6 else ""
        if rnd() < 0.8:
            out[at["statement_from_date"]] = iso(start)
            out[at["statement_to_date"]] = iso(max(start, end))
        if kind == "3":  # elective admissions are authorized in advance
            out[at["prior_authorization_number"]] = f"PA{int(rnd() * 1e9):09d}"
    elif spec == "OP":
        if rnd() < 0.4:
            out[at["admission_source_code"]] = "1" if rnd() < 0.7 else "2"
            out[at["patient_status_code"]] = "01"
        if rnd() < 0.3:
            out[at["statement_from_date"]] = iso(start)
            out[at["statement_to_date"]] = iso(max(start, end))
    elif spec == "CS" and rnd() < 0.8:  # Community Supports are authorized services
        out[at["prior_authorization_number"]] = f"CS-{int(rnd() * 1e8):08d}"
    return out


def settle(lines: list[list[str]], content: list[str], rnd) -> None:
    """Payments consistent with the arrangement, and the content appended to every line: a
    capitated claim's lines are paid $0; a fee-for-service line with a charge is never paid $0."""
    capitated = content[CONTENT_AT["payment_arrangement"]] == CAPITATED
    for line in lines:
        if capitated:
            line[13] = "0.00"
        elif line[13] == "0.00" and line[12] != "0.00":
            whole, cents = line[12].split(".")
            billed = int(whole) * 100 + int(cents)
            paid = max(1, int(billed * (0.45 + rnd() * 0.5)))
            line[13] = f"{paid // 100}.{paid % 100:02d}"
        line.extend(content)
