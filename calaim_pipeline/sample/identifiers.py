"""Synthetic CINs and NPIs as pure functions of an integer index.

Deriving identifiers from an index (through a bijective affine permutation) keeps them unique by
construction and lets any claim or roster row be regenerated without a lookup table, which is what
lets the generator stream ten million lines.
"""

from __future__ import annotations

from .vocab import CIN_LETTERS

MASK64 = (1 << 64) - 1

# CIN space: 7 digits x 16 letters. Index ranges (per plan): [0, 1e8) regular members,
# [1e8, 1.3e8) dedicated roster members, [1.3e8, 1.6e8) off-roster CINs.
CIN_SPACE = 10_000_000 * len(CIN_LETTERS)  # 160,000,000 = 2**11 * 5**7
CIN_DEDICATED_BASE = 100_000_000
CIN_OFF_ROSTER_BASE = 130_000_000
CIN_BLOCK = 1_000_000  # ids per plan-month in the dedicated / off-roster ranges
CIN_MONTH_CYCLE = 30
CIN_MULT = 97_654_321  # odd and not a multiple of 5: a bijection on CIN_SPACE

# NPI space: 9-digit bases 100000000..299999999 (first digit 1 or 2). Index ranges: [0, 1e7)
# directory providers (1e5 per plan), [1e7, 1e8) valid NPIs that are in no directory.
NPI_SPACE = 200_000_000  # 2**9 * 5**8
NPI_PER_PLAN = 100_000
NPI_OFF_DIRECTORY_BASE = 10_000_000
_NPI_MULT = 48_271_023  # odd, not a multiple of 5


def mix64(x: int) -> int:
    """splitmix64 finaliser: cheap, well-spread hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


MASK128 = (1 << 128) - 1
_M1 = 0x9E3779B97F4A7C15F39CC0605CEDC835
_M2 = 0xD6E8FEB86659FD93C13A4C5A1FE8E6B3


def mix128(x: int) -> int:
    """128 well-mixed bits from an integer in two multiplications (cheaper than two mix64)."""
    x = ((x + 0x632BE59BD9B4E019) * _M1) & MASK128
    x ^= x >> 67
    x = (x * _M2) & MASK128
    return x ^ (x >> 61)


def cin(index: int, plan_salt: int) -> str:
    """The CIN for an index in the plan's CIN space (unique per index within a plan)."""
    k = (index * CIN_MULT + plan_salt) % CIN_SPACE
    return f"9{k % 10_000_000:07d}{CIN_LETTERS[k // 10_000_000]}"


def npi_check_digit(base9: str) -> int:
    """Luhn check digit over '80840' + the first 9 digits (CMS NPI check digit rule)."""
    total = 0
    for pos, ch in enumerate(reversed("80840" + base9)):
        d = ord(ch) - 48
        if pos % 2 == 0:  # rightmost payload digit is doubled (the check digit follows it)
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def npi_is_valid(npi: str) -> bool:
    """True for 10 digits starting 1 or 2 with a correct check digit."""
    return (
        len(npi) == 10
        and npi.isdigit()
        and npi[0] in "12"
        and npi_check_digit(npi[:9]) == ord(npi[9]) - 48
    )


def npi(index: int) -> str:
    """A valid NPI for an index (unique per index)."""
    base9 = str(100_000_000 + (index * _NPI_MULT + 7_654_321) % NPI_SPACE)
    return base9 + str(npi_check_digit(base9))


def corrupt_npi(valid_npi: str) -> str:
    """Same NPI with a wrong check digit: still 10 digits starting 1 or 2."""
    return valid_npi[:9] + str((int(valid_npi[9]) + 3) % 10)
