"""Per-plan and per-month generation context: seeds, date windows and the member/date design.

The member and service-date assignment is what keeps clean lines free of accidental duplicates:
claim index i of a month maps injectively to (member, slot), and each (month mod 6, slot) owns its
own residue class of day numbers modulo DATE_MODULUS. Two clean claims of one member therefore never
share a service date, in the same month or any other: a month's service dates lie within
[month start - 145 days, month end - 5 days] (paid up to 25 days early for PAID_OUTSIDE_MONTH, service
up to 120 days before paid), and months 6 apart start over 180 days apart. Within a claim, procedure
codes (837P) and revenue codes (837I) are distinct, so the duplicate key of every clean line is
unique by design. Defects that move a service date use a dedicated member instead.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date

SLOTS = 4  # claims per member per month the date design supports (members = lines / 3)
MONTH_CLASSES = 6
DATE_MODULUS = MONTH_CLASSES * SLOTS
WINDOW_FAR = 120  # service_from is 5..120 days before paid_date
WINDOW_NEAR = 90
WINDOW_MIN = 5


def stable_int(*parts: object, bits: int = 64) -> int:
    """Deterministic integer from parts (never Python's salted hash())."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[: bits // 8], "big")


_DATE_CACHE: dict[int, str] = {}


def distinct_indexes(rnd, n: int, k: int) -> list[int]:
    """k distinct indexes below n (k <= n), drawn from ``rnd`` in order; cheaper than
    random.sample for the tiny k of a claim's codes, and the same draws as it always made (the
    sample's bytes depend on them)."""
    if k == 1:
        return [int(rnd() * n)]
    picked: list[int] = []
    while len(picked) < k:
        j = int(rnd() * n)
        if j not in picked:
            picked.append(j)
    return picked


def iso(ordinal: int) -> str:
    """ISO date string for a proleptic Gregorian ordinal (cached: dates repeat a lot)."""
    text = _DATE_CACHE.get(ordinal)
    if text is None:
        text = date.fromordinal(ordinal).isoformat()
        _DATE_CACHE[ordinal] = text
    return text


@dataclass(slots=True)
class MonthCtx:
    """One extract month of one plan."""

    month: str  # YYYY-MM
    yyyymm: str
    serial: int  # year * 12 + month - 1
    run_index: int  # position in the run's month list (replacements start at 1)
    start: int  # ordinal of the first day
    end: int  # ordinal of the last day
    seed_base: int  # per-claim Random seed = seed_base | claim index

    @classmethod
    def build(cls, seed: int, plan: str, month: str, run_index: int) -> MonthCtx:
        """Parse YYYY-MM and derive the month's seed."""
        year, mon = (int(x) for x in month.split("-"))
        first = date(year, mon, 1)
        nxt = date(year + (mon == 12), mon % 12 + 1, 1)
        return cls(
            month=month,
            yyyymm=f"{year:04d}{mon:02d}",
            serial=year * 12 + mon - 1,
            run_index=run_index,
            start=first.toordinal(),
            end=nxt.toordinal() - 1,
            seed_base=stable_int("claim", seed, plan, month) << 40,
        )

    def claim_id(self, plan: str, index: int) -> str:
        """Claim ids embed plan, month and index, so they are unique per plan across months."""
        return f"{plan}-{self.yyyymm}-{index:08d}"


def coprime_multiplier(n: int, start: int) -> int:
    """A multiplier coprime with n, so i -> (i * a + b) mod n is a permutation."""
    a = start % n if n > 1 else 1
    while n > 1 and (a == 0 or math.gcd(a, n) != 1):
        a += 1
    return a or 1
