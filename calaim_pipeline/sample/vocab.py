"""Code lists and reference values for the synthetic sample.

Everything the generator draws from lives here so a reviewer can check the vocabulary in one place.
Diagnosis lists are verified against the official ICD-10-CM list (simple-icd-10-cm) at import, and
procedure/units tables against thresholds.yaml, so clean sample rows cannot trip a rule by accident.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import simple_icd_10_cm as icd
import yaml

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
CATALOG_DIR = PACKAGE_ROOT / "catalog"
CONFIG_DIR = PACKAGE_ROOT / "config"

# --------------------------------------------------------------------------------------------------
# Configuration files (read directly: this package must not import Dagster or the pipeline)


def _config(name: str) -> Path:
    """CALAIM_CONFIG_DIR's copy of a configuration file when it has one (as settings.config_file),
    else the bundled one."""
    folder = os.environ.get("CALAIM_CONFIG_DIR")
    if folder and (Path(folder) / name).is_file():
        return Path(folder) / name
    return CONFIG_DIR / name


@cache
def load_plans() -> tuple[dict[str, Any], ...]:
    """Plans registry (plans.yaml), in file order; the order fixes each plan's id ranges."""
    with _config("plans.yaml").open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return tuple(data["plans"])


@cache
def load_thresholds() -> dict[str, Any]:
    """thresholds.yaml, values only."""
    with _config("thresholds.yaml").open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in data.items()}


@cache
def load_rules() -> tuple[dict[str, Any], ...]:
    """The line-rule catalog (rules.yaml)."""
    with (CATALOG_DIR / "rules.yaml").open(encoding="utf-8") as fh:
        return tuple(yaml.safe_load(fh)["rules"])


@cache
def load_ecm_cs() -> dict[str, tuple[str, ...]]:
    """HCPCS code -> allowed modifiers, from ecm_cs_codes.csv (open-ended rows only)."""
    allowed: dict[str, list[str]] = {}
    with (CATALOG_DIR / "ecm_cs_codes.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("effective_to"):
                continue
            allowed.setdefault(row["hcpcs"].strip(), []).append(row["modifier"].strip())
    return {code: tuple(mods) for code, mods in allowed.items()}


def units_bound(code: str) -> int:
    """The UNITS_ABOVE_BOUND limit for a procedure code (thresholds.yaml units_bound)."""
    bounds = load_thresholds()["units_bound"]
    return int(bounds.get(code, bounds["default"]))


# --------------------------------------------------------------------------------------------------
# Identifiers

CIN_LETTERS = "ACDEFGHMNTUVWXYZ"  # the 16 letters a CIN may end with (not B I J K L O P Q R S)
CIN_EXCLUDED_LETTERS = "BIJKLOPQRS"

# --------------------------------------------------------------------------------------------------
# Procedure codes: code -> (fee low cents, fee high cents, units low, units high) per unit


@dataclass(frozen=True, slots=True)
class Proc:
    """One billable code with a plausible per-unit fee range and a clean units range."""

    code: str
    fee_lo: int
    fee_hi: int
    units_lo: int = 1
    units_hi: int = 1


EM_CODES = (  # office E/M, one per primary care claim; weights favour 99213/99214
    Proc("99202", 7500, 11000),
    Proc("99203", 11000, 16000),
    Proc("99204", 16000, 24000),
    Proc("99212", 5500, 8000),
    Proc("99213", 9000, 13000),
    Proc("99214", 13000, 19000),
    Proc("99215", 18000, 26000),
)
EM_WEIGHTS = (3, 4, 2, 5, 14, 10, 2)

PC_ANCILLARY = (
    Proc("36415", 300, 1000),
    Proc("85025", 800, 1500),
    Proc("80053", 1000, 2000),
    Proc("80061", 1200, 2500),
    Proc("83036", 900, 1800),
    Proc("81002", 300, 600),
    Proc("90471", 1500, 2800),
    Proc("90686", 1800, 2600),
    Proc("96127", 400, 800, 1, 2),
    Proc("99401", 2500, 4000),
    Proc("93000", 1500, 2500),
    Proc("87880", 1200, 1800),
    Proc("87804", 1200, 1800),
    Proc("G0442", 1500, 2000),
    Proc("99406", 1200, 1600),
    Proc("82947", 400, 700),
    Proc("84443", 1500, 2500),
    Proc("94640", 1200, 2000, 1, 2),
    Proc("3074F", 0, 0),  # CPT Category II quality codes are billed at $0
    Proc("1036F", 0, 0),
    Proc("0591T", 4000, 6000),  # a Category III code
)

BH_PRIMARY = (
    Proc("90791", 15000, 22000),
    Proc("90832", 6000, 9000),
    Proc("90834", 9000, 13000),
    Proc("90837", 12000, 17000),
    Proc("90847", 9000, 13000),
    Proc("90853", 3000, 5000),
    Proc("H0031", 8000, 15000),
    Proc("H2017", 2000, 3500, 1, 8),
    Proc("H0004", 2500, 3500, 1, 4),
    Proc("H2011", 4000, 6000, 1, 6),
    Proc("H2021", 2000, 3000, 1, 8),
    Proc("T1017", 2500, 4000, 1, 6),
    Proc("H0038", 1800, 2600, 1, 8),
)
BH_ADDON = (Proc("96127", 400, 800, 1, 2), Proc("90785", 1200, 2000))

# ECM and Community Supports codes; modifiers come from ecm_cs_codes.csv
ECM_CODES = (Proc("G9008", 8000, 15000, 1, 4), Proc("G9012", 3000, 8000, 1, 8))
CS_CODES = (
    Proc("H0043", 5000, 9000, 1, 4),
    Proc("H2016", 2000, 4000, 1, 10),
    Proc("H0044", 50000, 200000),
    Proc("T2040", 2000, 4000, 1, 8),
    Proc("T2041", 2000, 4000, 1, 8),
    Proc("T2050", 2000, 4000, 1, 6),
    Proc("T2051", 2000, 4000, 1, 6),
    Proc("T2033", 15000, 25000, 1, 14),
    Proc("H0045", 10000, 20000, 1, 5),
    Proc("S5151", 5000, 9000, 1, 5),
    Proc("S9125", 8000, 12000, 1, 5),
    Proc("T2012", 5000, 9000, 1, 5),
    Proc("T2014", 5000, 9000, 1, 5),
    Proc("T2018", 5000, 9000, 1, 5),
    Proc("T2020", 5000, 9000, 1, 5),
    Proc("H2014", 1500, 2500, 1, 8),
    Proc("H2024", 5000, 9000, 1, 5),
    Proc("H2026", 5000, 9000, 1, 5),
    Proc("H2038", 5000, 9000, 1, 5),
    Proc("T2038", 50000, 300000),
    Proc("H2022", 3000, 6000, 1, 4),
    Proc("S5130", 600, 900, 4, 32),
    Proc("T1019", 500, 800, 4, 48),
    Proc("S5165", 100000, 500000),
    Proc("S5170", 1000, 1500, 7, 21),
    Proc("S9470", 5000, 8000),
    Proc("S9977", 1000, 1500, 7, 21),
    Proc("S9452", 3000, 5000),
    Proc("H0014", 20000, 40000),
    Proc("H0040", 100000, 250000),
    Proc("T1016", 2500, 4000, 1, 8),
)


@dataclass(frozen=True, slots=True)
class Rev:
    """An institutional revenue code with optional HCPCS/CPT codes billed under it."""

    code: str
    procs: tuple[str, ...]
    fee_lo: int
    fee_hi: int
    units_lo: int = 1
    units_hi: int = 1


OUTPATIENT_REVS = (
    Rev("0450", ("99283", "99284", "99285"), 40000, 150000),
    Rev("0300", ("85025", "80053", "81001"), 3000, 12000, 1, 3),
    Rev("0301", ("80048", "82550"), 2000, 8000),
    Rev("0305", ("85027",), 2000, 6000),
    Rev("0320", ("71046", "73610"), 8000, 25000),
    Rev("0350", ("70450", "74177"), 60000, 250000),
    Rev("0402", ("76700", "76856"), 30000, 90000),
    Rev("0250", (), 1000, 30000, 1, 10),
    Rev("0636", ("J2405", "J1885", "J7050", "J0696"), 500, 8000, 1, 4),
    Rev("0270", (), 500, 20000, 1, 5),
    Rev("0260", ("96374", "96360"), 10000, 40000),
    Rev("0730", ("93005",), 5000, 15000),
    Rev("0510", ("G0463",), 15000, 40000),
    Rev("0761", (), 10000, 30000),
)
INPATIENT_ROOM = Rev("0120", (), 150000, 300000)  # units = length of stay
INPATIENT_REVS = (
    Rev("0250", (), 5000, 200000, 1, 20),
    Rev("0270", (), 2000, 80000, 1, 10),
    Rev("0300", ("85025", "80053"), 5000, 30000, 1, 6),
    Rev("0301", ("80048",), 3000, 20000, 1, 4),
    Rev("0320", ("71046",), 10000, 40000, 1, 3),
    Rev("0360", (), 300000, 1500000),
    Rev("0370", (), 80000, 300000),
    Rev("0410", ("94640",), 3000, 20000, 1, 6),
    Rev("0420", ("97110",), 10000, 30000, 1, 4),
    Rev("0450", ("99284", "99285"), 60000, 200000),
    Rev("0636", ("J2405", "J1885", "J0696"), 500, 8000, 1, 8),
    Rev("0710", (), 50000, 150000),
    Rev("0730", ("93005",), 5000, 15000),
)

# --------------------------------------------------------------------------------------------------
# Diagnoses (ICD-10-CM, billable leaf codes, written with the dot)

PC_DX = (
    "I10",
    "E11.9",
    "E78.5",
    "J06.9",
    "Z00.00",
    "Z00.01",
    "M54.50",
    "R51.9",
    "K21.9",
    "E66.9",
    "J44.9",
    "N18.30",
    "Z71.89",
    "R07.9",
    "R10.9",
    "E03.9",
    "G47.00",
    "F17.210",
    "M25.561",
    "J45.909",
    "Z23",
    "E55.9",
    "D64.9",
    "R53.83",
    "L30.9",
    "E11.65",
    "I48.91",
)
BH_DX = (
    "F32.A",
    "F33.1",
    "F41.1",
    "F43.10",
    "F31.9",
    "F20.9",
    "F10.20",
    "F11.20",
    "F90.0",
    "F41.9",
    "F32.9",
    "F43.23",
    "F84.0",
    "F25.9",
    "F33.2",
    "F43.12",
    "F15.20",
)
SOCIAL_DX = (  # Z55-Z65 social determinants, allowed as primary on behavioral health claims
    "Z59.00",
    "Z59.01",
    "Z59.02",
    "Z59.811",
    "Z59.41",
    "Z60.2",
    "Z63.0",
    "Z56.0",
    "Z65.8",
    "Z62.810",
    "Z63.5",
    "Z59.10",
    "Z59.12",
)
ECM_DX = (
    "Z59.00",
    "Z59.01",
    "Z59.02",
    "Z59.811",
    "Z59.41",
    "Z60.2",
    "Z75.3",
    "Z74.09",
    "I10",
    "E11.9",
    "J44.9",
    "N18.30",
    "F20.9",
    "I50.9",
    "F32.A",
    "E11.65",
)
OUTPATIENT_DX = (
    "R07.9",
    "S93.401A",
    "R10.9",
    "J06.9",
    "N39.0",
    "R51.9",
    "K21.9",
    "J18.9",
    "S61.412A",
    "R55",
    "R11.2",
    "S01.81XA",
    "M54.50",
    "J02.9",
    "R50.9",
)
INPATIENT_DX = (
    "J18.9",
    "I50.9",
    "A41.9",
    "N39.0",
    "K35.80",
    "J44.1",
    "I21.4",
    "E86.0",
    "N17.9",
    "I63.9",
    "K85.90",
    "E11.65",
    "I48.91",
    "J96.01",
    "I10",
    "E78.5",
)

# Codes that exist in ICD-10-CM but are categories (not billable), and codes that do not exist:
# the ICD10_NOT_BILLABLE defect uses them.
NON_BILLABLE_DX = ("E11", "F32", "J45.9", "Z59.0", "N18.3", "I50", "Z91.1", "A00")
UNKNOWN_DX = ("Z99.999", "U99.9")

# --------------------------------------------------------------------------------------------------
# Places of service and modifiers

TELEHEALTH_POS = ("02", "10")
TELEHEALTH_MODS = ("95", "93")
INVALID_POS = ("98", "28", "AB")

# --------------------------------------------------------------------------------------------------
# Provider taxonomies (NUCC)

TAX = {
    "PC_ORG": ("261QF0400X", "261QP2300X"),
    "PC_RENDER": ("207Q00000X", "207R00000X", "208000000X", "363LF0000X", "363A00000X"),
    "PC_SOLO": ("207Q00000X", "208D00000X", "207R00000X"),
    "BH_ORG": ("261QM0801X", "261QR0405X", "251S00000X"),
    "BH_RENDER": (
        "101YM0800X",
        "103T00000X",
        "1041C0700X",
        "2084P0800X",
        "106H00000X",
        "101YA0400X",
        "175T00000X",
    ),
    "CM_ORG": ("251S00000X", "253Z00000X", "251E00000X"),
    "CM_RENDER": ("171M00000X", "172V00000X", "1041C0700X", "374U00000X"),
    "HOSP_ORG": ("282N00000X", "282NC0060X"),
    "HOSP_ATTEND": ("208M00000X", "207P00000X", "207RC0000X", "207R00000X"),
}

# --------------------------------------------------------------------------------------------------
# Import-time verification: a wrong entry here would silently make clean rows fail a rule.


def _verify() -> None:
    for code in PC_DX + BH_DX + SOCIAL_DX + ECM_DX + OUTPATIENT_DX + INPATIENT_DX:
        if not (icd.is_valid_item(code) and icd.is_leaf(code)):
            raise ValueError(f"sample vocabulary: {code} is not a billable ICD-10-CM code")
    for code in NON_BILLABLE_DX:
        if not icd.is_valid_item(code) or icd.is_leaf(code):
            raise ValueError(f"sample vocabulary: {code} should be a non-billable category")
    for code in UNKNOWN_DX:
        if icd.is_valid_item(code):
            raise ValueError(f"sample vocabulary: {code} should not be an ICD-10-CM code")
    ecm_cs = load_ecm_cs()
    for proc in ECM_CODES + CS_CODES:
        if proc.code not in ecm_cs:
            raise ValueError(f"sample vocabulary: {proc.code} not in ecm_cs_codes.csv")
    for proc in EM_CODES + PC_ANCILLARY + BH_PRIMARY + BH_ADDON + ECM_CODES + CS_CODES:
        if proc.units_hi > units_bound(proc.code) or proc.units_lo < 1:
            raise ValueError(f"sample vocabulary: units for {proc.code} exceed units_bound")
        if proc.code in ecm_cs and proc not in ECM_CODES + CS_CODES:
            raise ValueError(f"sample vocabulary: {proc.code} is an ECM/CS code")
    for rev in (*OUTPATIENT_REVS, INPATIENT_ROOM, *INPATIENT_REVS):
        if len(rev.code) != 4 or not rev.code.startswith("0") or rev.code[1] == "0":
            raise ValueError(f"sample vocabulary: bad revenue code {rev.code}")
        for code in rev.procs:
            if rev.units_hi > units_bound(code) or code in ecm_cs:
                raise ValueError(f"sample vocabulary: {code} under revenue {rev.code}")
    valid_pos = set(load_thresholds()["valid_place_of_service"])
    if not set(TELEHEALTH_POS) <= valid_pos or valid_pos & set(INVALID_POS):
        raise ValueError("sample vocabulary: place of service lists disagree with thresholds.yaml")
    for taxes in TAX.values():
        for tax in taxes:
            if len(tax) != 10 or not tax.endswith("X") or not tax.isalnum():
                raise ValueError(f"sample vocabulary: bad taxonomy {tax}")


_verify()
