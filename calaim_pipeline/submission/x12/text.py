"""X12 element formatting, once in Python (envelope values) and once as DuckDB macros (the
renderer's bulk path), written side by side so they stay the same.

* Free text (names, addresses) is reduced to the X12 basic character set: Unicode compatibility
  decomposition to ASCII (accents dropped), upper case, anything outside the basic set (and the
  delimiters ``* : ^ ~``) becomes a space, runs of spaces collapse, then trimmed and cut to the
  element's maximum length. For the bulk path the decomposition is done once per distinct
  non-ASCII roster value with pyarrow (``fold_table``) and joined in by the reader
  (``accepted_lines.py``), so the SQL macro ``x12_text`` only sees ASCII.
* Amounts (X12 ``R``): no trailing zeros, no exponent (125.50 -> 125.5, 100.00 -> 100).
* Dates: CCYYMMDD.
"""

from __future__ import annotations

import re
import unicodedata

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

NOT_BASIC = r"[^A-Z0-9!\"&'()+,\-./;?= ]"  # the basic set, minus * : ^ ~
ID_TEXT = r"[A-Za-z0-9.\-/()&',]([A-Za-z0-9 .\-/()&',]*[A-Za-z0-9.\-/()&',])?"
_NOT_BASIC = re.compile(NOT_BASIC)
_SPACES = re.compile(r" {2,}")


def fold_ascii(value: str) -> str:
    return unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")


def clean_text(value: str | None, max_len: int) -> str:
    """Free text reduced to the X12 basic character set (Python: envelope values)."""
    if not value:
        return ""
    cleaned = _SPACES.sub(" ", _NOT_BASIC.sub(" ", fold_ascii(value).upper())).strip()
    return cleaned[:max_len].rstrip()


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


MACROS = (
    # Values are ASCII already (folded by the reader); anything else left is not basic either.
    "CREATE OR REPLACE TEMP MACRO x12_text(v, n) AS coalesce(rtrim(left(trim(regexp_replace("
    f"regexp_replace(upper(v), {_sql_literal(NOT_BASIC)}, ' ', 'g'), ' {{2,}}', ' ', 'g'"
    ")), n)), '')",
    # CAST of a DECIMAL always has a point; strip zeros, then the point.
    "CREATE OR REPLACE TEMP MACRO x12_decimal(s) AS "
    "CASE WHEN contains(s, '.') THEN rtrim(rtrim(s, '0'), '.') ELSE s END",
    "CREATE OR REPLACE TEMP MACRO x12_amount(v) AS "
    "CASE WHEN x12_decimal(CAST(CAST(v AS DECIMAL(38, 2)) AS VARCHAR)) IN ('', '-0') THEN '0' "
    "ELSE x12_decimal(CAST(CAST(v AS DECIMAL(38, 2)) AS VARCHAR)) END",
    "CREATE OR REPLACE TEMP MACRO x12_quantity(v) AS x12_decimal(CAST(v AS VARCHAR))",
    "CREATE OR REPLACE TEMP MACRO x12_d8(d) AS strftime(d, '%Y%m%d')",
    "CREATE OR REPLACE TEMP MACRO x12_nonempty(v) AS coalesce(v, '') <> ''",
)


def install(con: duckdb.DuckDBPyConnection) -> None:
    """The macros on ``con`` (idempotent)."""
    for macro in MACROS:
        con.execute(macro)


def fold_table(values: pa.Array) -> pa.Table:
    """(raw, folded) for distinct non-ASCII strings: NFKD, then every non-ASCII character dropped,
    the same as ``fold_ascii`` (``encode("ascii", "ignore")``) but vectorised."""
    folded = pc.replace_substring_regex(
        pc.utf8_normalize(values, form="NFKD"), pattern=r"[^\x00-\x7f]", replacement=""
    )
    return pa.table({"raw": values, "folded": folded})
