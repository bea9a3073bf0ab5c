"""The SQL of an 837 body (every ST..SE set) over a plan-month's accepted lines of one claim type,
as rows of text in file order: the layout's segments compiled by ``renderer.segment_sql``.

One query, set-based, run by DuckDB's own threads under its memory limit. Window functions and
joins see narrow rows wherever they can (a window or hash join over the lines' ~40 columns costs
several times one over a handful, measured in docs/benchmark.md):

* claim aggregates (totals, first place of service, dates, the claim's segment count, its sorted
  line numbers) by one GROUP BY over the lines, and each line's LX as its position in that list;
* line rows: the 2400/2430 segments of each line;
* claim rows (a claim's first line joined to the rosters): the 2000A/2000B/2300 segments, with the
  HL numbering computed over a narrow relation (claim, billing key, member, segment counts) as gaps
  and islands over the claims in file order (a new 2000A where the billing provider changes or a
  set starts, a new 2000B where the member changes under it or after 100 claims of one member),
  the ST header at each set's first claim and the previous set's SE (its segment count is a
  window sum over the set);
* one trailer row: the last set's SE.

Sorted by claim and line; each row carries its problem (NULL when fine) and, on claim rows, the
claim's billed and paid totals.
"""

from __future__ import annotations

from collections.abc import Callable

from calaim_pipeline.submission import accepted_lines
from calaim_pipeline.submission.accepted_lines import DIAGNOSIS_COLUMNS
from calaim_pipeline.submission.x12.checks import problem_sql

CLAIMS_PER_SUBSCRIBER = 100  # TR3: loop 2300 repeats at most 100 times under one 2000B
MODIFIER_COLUMNS = tuple(f"modifier_{i}" for i in range(1, 5))
FOLDS = "x12_folds"

_BILLING_COLUMNS = tuple(f"b_{c}" for c in accepted_lines.PROVIDER_FIELDS if c != "taxonomy")
# The line's procedure composite parts, once (SV1/SV2 and SVD repeat them).
_PROCEDURE = ", ".join(
    [
        "CASE WHEN x12_nonempty(procedure_code) THEN 'HC' ELSE '' END AS proc_qualifier",
        "CASE WHEN x12_nonempty(procedure_code) THEN upper(procedure_code) ELSE '' END AS proc_code",
        *(
            f"CASE WHEN x12_nonempty(procedure_code) THEN upper(modifiers[{k}]) END AS proc_mod_{k}"
            for k in range(1, 5)
        ),
    ]
)
LevelSql = Callable[[str], tuple[str, str]]  # level -> (text SQL, segment count SQL)


def _diagnoses() -> tuple[str, str]:
    """(dx, dx_presence): the claim's diagnoses without empty columns (no dots, upper case), and a
    12-character string of 1/0 saying which diagnosis_N columns are filled (for the pointers)."""
    dx = (
        f"list_transform(list_filter([{', '.join(DIAGNOSIS_COLUMNS)}], "
        "lambda d: x12_nonempty(d)), lambda d: upper(trim(replace(d, '.', ''))))"
    )
    presence = " || ".join(
        f"CASE WHEN x12_nonempty({c}) THEN '1' ELSE '0' END" for c in DIAGNOSIS_COLUMNS
    )
    return dx, presence


# A pointer N names diagnosis_N; on the file it is that diagnosis's position once empty columns
# are dropped (0 when diagnosis_N is empty or N is not 1-12).
_POINTERS = (
    "list_transform(list_filter(string_split(coalesce(diagnosis_pointers, ''), ','), "
    "lambda p: regexp_full_match(trim(p), '[0-9]+')), "
    "lambda p: CASE WHEN TRY_CAST(trim(p) AS INTEGER) BETWEEN 1 AND 12 "
    "AND substr(dx_presence, TRY_CAST(trim(p) AS INTEGER), 1) = '1' "
    "THEN length(replace(left(dx_presence, TRY_CAST(trim(p) AS INTEGER)), '0', '')) ELSE 0 END)"
)


def body_sql(
    sources: tuple[list[str], list[str], list[str]],
    claim_type: str,
    transaction: str,
    level: LevelSql,
    claims_per_transaction_set: int,
    *,
    fold_table: str | None = None,
) -> str:
    """Rows (part, lx, text, problem, billed, paid) of the body, in file order."""
    dx, presence = _diagnoses()
    problem = problem_sql(transaction)
    billing_hl, billing_hl_n = level("billing_hl")
    billing, billing_n = level("billing")
    subscriber, subscriber_n = level("subscriber")
    claim, claim_n = level("claim")
    line, line_n = level("line")
    header, _ = level("set")
    trailer, _ = level("trailer")
    cpts = int(claims_per_transaction_set)
    lines = accepted_lines.accepted_lines_sql(sources, claim_type)
    claims = accepted_lines.with_rosters_sql(sources, "c0", fold_table=fold_table)
    by_seq = "OVER (ORDER BY claim_seq ROWS UNBOUNDED PRECEDING)"
    return f"""
WITH l AS ({lines}),
a AS MATERIALIZED (
  SELECT *, row_number() OVER (ORDER BY claim_id, frequency_code) AS claim_seq
  FROM (
    SELECT claim_id, frequency_code,
      arg_min(coalesce(place_of_service, ''), line_number) AS claim_pos,
      count(*) AS claim_lines, sum(billed_amount) AS claim_billed, sum(paid_amount) AS claim_paid,
      min(service_from_date) AS claim_from,
      max(coalesce(service_to_date, service_from_date)) AS claim_to,
      sum({line_n}) AS claim_line_segments,
      list(line_number ORDER BY line_number) AS claim_line_numbers,
      count(DISTINCT line_number) AS claim_distinct_line_numbers
    FROM l GROUP BY claim_id, frequency_code
  )
),
w AS MATERIALIZED (
  SELECT l.*, list_position(a.claim_line_numbers, l.line_number) AS lx,
    a.* EXCLUDE (claim_id, frequency_code, claim_line_numbers)
  FROM l JOIN a USING (claim_id, frequency_code)
),
lp AS (
  SELECT *, {_PROCEDURE}, length(replace(dx_presence, '0', '')) AS n_dx, {_POINTERS} AS pointers
  FROM (
    SELECT *, {presence} AS dx_presence,
      list_filter([{", ".join(MODIFIER_COLUMNS)}], lambda m: x12_nonempty(m)) AS modifiers
    FROM w
  )
),
ln AS (
  SELECT 0 AS part, claim_seq, lx, {line} AS text, {problem["line"]} AS problem,
    NULL::DECIMAL(38, 2) AS billed, NULL::DECIMAL(38, 2) AS paid
  FROM lp
),
c0 AS (SELECT * FROM w WHERE lx = 1),
c1 AS ({claims}),
c2 AS MATERIALIZED (
  SELECT *, {billing_hl_n} + {billing_n} AS billing_segments, {subscriber_n} AS subscriber_segments,
    {claim_n} + claim_line_segments AS own_segments
  FROM (SELECT *, {dx} AS dx FROM c1)
),
bb AS (
  SELECT *, {billing} AS billing_text, {problem["billing"]} AS billing_problem
  FROM (SELECT DISTINCT billing_npi, b_taxonomy, {", ".join(_BILLING_COLUMNS)} FROM c2)
),
hk AS (
  SELECT claim_seq, member_cin, coalesce(billing_npi, '') || '|' || coalesce(b_taxonomy, '') AS bkey,
    billing_segments, subscriber_segments, own_segments
  FROM c2
),
h1 AS (
  SELECT *, (claim_seq - 1) // {cpts} + 1 AS set_no, (claim_seq - 1) % {cpts} = 0 AS set_start,
    (claim_seq - 1) % {cpts} = 0 OR bkey IS DISTINCT FROM lag(bkey) OVER (ORDER BY claim_seq)
      AS b_start,
    member_cin IS DISTINCT FROM lag(member_cin) OVER (ORDER BY claim_seq) AS member_changed
  FROM hk
),
h2 AS (
  SELECT *, CAST(sum(b_start::INT) {by_seq} AS BIGINT) AS b_run,
    CAST(sum((b_start OR member_changed)::INT) {by_seq} AS BIGINT) AS m_run
  FROM h1
),
h3 AS (
  SELECT *, (claim_seq - min(claim_seq) OVER (PARTITION BY m_run)) % {CLAIMS_PER_SUBSCRIBER} = 0
    AS s_start
  FROM h2
),
h4 AS (
  SELECT *, CAST(sum(b_start::INT + s_start::INT) OVER (PARTITION BY set_no ORDER BY claim_seq
      ROWS UNBOUNDED PRECEDING) AS BIGINT) AS subscriber_hl,
    (CASE WHEN b_start THEN billing_segments ELSE 0 END)
      + (CASE WHEN s_start THEN subscriber_segments ELSE 0 END) + own_segments AS claim_segments
  FROM h3
),
h5 AS (
  SELECT *, subscriber_hl - s_start::INT AS billing_hl,
    first_value(subscriber_hl - s_start::INT) OVER (PARTITION BY b_run ORDER BY claim_seq)
      AS parent_hl,
    CAST(sum(claim_segments) OVER (PARTITION BY set_no) AS BIGINT) + 6 AS set_segments
  FROM h4
),
h AS MATERIALIZED (
  SELECT claim_seq, set_no, set_start, b_start, s_start, subscriber_hl, billing_hl, parent_hl,
    set_segments, lag(set_segments) OVER (ORDER BY claim_seq) AS previous_set_segments
  FROM h5
),
cl AS (
  SELECT 0 AS part, claim_seq, 0 AS lx,
    (CASE WHEN set_start AND set_no > 1 THEN {trailer.replace("{set}", "set_no - 1").replace("{count}", "previous_set_segments")} ELSE '' END)
    || (CASE WHEN set_start THEN {header.replace("{set}", "set_no")} ELSE '' END)
    || (CASE WHEN b_start THEN {billing_hl} || billing_text ELSE '' END)
    || (CASE WHEN s_start THEN {subscriber} ELSE '' END)
    || {claim} AS text,
    coalesce({problem["claim"]}, 'claim ' || claim_id || ': ' || billing_problem,
      {problem["rest"]}) AS problem,
    claim_billed AS billed, claim_paid AS paid
  FROM (
    SELECT c2.*, h.* EXCLUDE (claim_seq), bb.billing_text, bb.billing_problem
    FROM c2 JOIN h USING (claim_seq)
    JOIN bb ON bb.billing_npi IS NOT DISTINCT FROM c2.billing_npi
      AND bb.b_taxonomy IS NOT DISTINCT FROM c2.b_taxonomy
  )
),
tr AS (
  SELECT 1 AS part, NULL AS claim_seq, 0 AS lx,
    {trailer.replace("{set}", "set_no").replace("{count}", "set_segments")} AS text,
    NULL AS problem, NULL::DECIMAL(38, 2) AS billed, NULL::DECIMAL(38, 2) AS paid
  FROM (SELECT set_no, set_segments FROM h ORDER BY claim_seq DESC LIMIT 1)
)
SELECT part, lx, text, problem, billed, paid
FROM (SELECT * FROM cl UNION ALL SELECT * FROM ln UNION ALL SELECT * FROM tr)
ORDER BY part, claim_seq, lx
"""
