"""Code lists as small tables to join: only the distinct values a month actually uses are checked.

A month of 10M lines holds a few thousand distinct diagnoses and NPIs, so checking those once and
joining the (tiny) list of bad ones is far cheaper than testing every row (stack-notes.md).
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from importlib.metadata import version
from pathlib import Path

import duckdb
import pyarrow as pa

from calaim_pipeline.catalog import ecm_cs_codes
from calaim_pipeline.ingest.contract import ICD10_COLUMNS


def npi_check_digit_ok(npi: str) -> bool:
    """CMS NPI rule: 10 digits, first 1 or 2, Luhn check digit over '80840' + the first 9 digits."""
    if len(npi) != 10 or not npi.isdigit() or npi[0] not in "12":
        return False
    total = 24  # the Luhn contribution of the '80840' prefix
    for position, char in enumerate(reversed(npi[:9])):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10 == int(npi[9])


def _billable_from_package() -> list[str]:
    import simple_icd_10_cm as icd  # parses its bundled list on import (~2.5 s): only when needed

    return sorted(
        code.replace(".", "")
        for code in icd.get_all_codes(with_dots=True)
        if icd.is_leaf(code) and icd.is_category_or_subcategory(code)
    )


def user_cache_dir() -> Path:
    """Per-user cache ($XDG_CACHE_HOME or ~/.cache): derived reference data shared by data roots."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "calaim-pipeline"


@cache
def billable_icd10cm_codes(cache_dir: Path | None = None) -> frozenset[str]:
    """The billable (leaf) ICD-10-CM codes of the official list shipped by simple-icd-10-cm.

    Cached as a text file per package version so a run does not pay the package's parse time.
    """
    package_version = version("simple-icd-10-cm")
    path = (cache_dir or user_cache_dir()) / f"icd10cm-billable-{package_version}.txt"
    if path.is_file():
        return frozenset(path.read_text(encoding="ascii").split())
    codes = _billable_from_package()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".icd-")
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write("\n".join(codes))
    os.replace(tmp, path)
    return frozenset(codes)


def build_lookup_tables(con: duckdb.DuckDBPyConnection, cache_dir: Path | None = None) -> None:
    """Create bad_npis, bad_diagnoses and ecm_cs tables from the `lines` view."""
    npis = con.execute(
        "SELECT DISTINCT v FROM (SELECT billing_npi AS v FROM lines UNION ALL "
        "SELECT rendering_npi FROM lines UNION ALL SELECT attending_npi FROM lines) WHERE v IS NOT NULL"
    ).fetchall()
    bad_npis = [value for (value,) in npis if not npi_check_digit_ok(value)]
    con.register("_bad_npis", pa.table({"npi": pa.array(bad_npis, pa.string())}))
    con.execute("CREATE OR REPLACE TEMP TABLE bad_npis AS SELECT npi FROM _bad_npis")

    union = " UNION ".join(f"SELECT {col} AS v FROM lines" for col in ICD10_COLUMNS)
    codes = con.execute(f"SELECT DISTINCT v FROM ({union}) WHERE v IS NOT NULL").fetchall()
    billable = billable_icd10cm_codes(cache_dir) if codes else frozenset()  # none: skip the list
    bad_codes = [value for (value,) in codes if value not in billable]
    con.register("_bad_dx", pa.table({"code": pa.array(bad_codes, pa.string())}))
    con.execute("CREATE OR REPLACE TEMP TABLE bad_diagnosis_codes AS SELECT code FROM _bad_dx")

    rows = ecm_cs_codes()
    con.register(
        "_ecm",
        pa.table(
            {
                "hcpcs": [r.hcpcs for r in rows],
                "modifier": [r.modifier for r in rows],
                "effective_from": [r.effective_from for r in rows],
                "effective_to": [r.effective_to for r in rows],
            }
        ),
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ecm_cs AS SELECT hcpcs, CAST(effective_from AS DATE) AS d_start, "
        "coalesce(CAST(effective_to AS DATE), DATE '9999-12-31') AS d_end, list(modifier ORDER BY modifier) AS allowed "
        "FROM _ecm GROUP BY ALL"
    )
    for name in ("_bad_npis", "_bad_dx", "_ecm"):
        con.unregister(name)
