"""The rules' examples (catalog/examples.py) judged the way a plan-month run judges them.

An example means: this tiny drop, judged alone as a plan-month, gives these verdicts. Judging one
costs about half a second of CPU, nearly all DuckDB planning the verdict query, so examples that
cannot affect each other share one run (one file, one plan) and the outcome is split back by
physical line. They cannot affect each other because:

- wherever an example leaves the claim id, member CIN or billing NPI at the baseline, it gets its
  own fresh valid value, the same on all its lines, its roster row and its provider row; so claim
  holds, claim-level rules, duplicate keys, roster and directory joins stay inside the example;
- an example that states such a value itself (in a line, a raw line, a ledger line or an
  override) shares a run only with examples that do not state the same value;
- examples with ledger lines share runs only with each other (whether the plan has an earlier
  month in the ledger is one fact per run), and an example whose raw CSV text leaves a quote open
  runs alone (the reader could take the lines after it into the quoted field).

`run_examples(..., isolated=True)` judges every example alone; a slow test checks both agree.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from calaim_pipeline.catalog import Rule
from calaim_pipeline.catalog.examples import Example, ExampleBaseline
from calaim_pipeline.ingest.contract import ENCOUNTER_COLUMNS, MEMBER_COLUMNS, PROVIDER_COLUMNS
from calaim_pipeline.settings import Thresholds, load_thresholds
from calaim_pipeline.validation import judging, outputs
from calaim_pipeline.validation.lookups import npi_check_digit_ok
from calaim_pipeline.validation.rule_check import Extract, small_connection, stage_extract

Row = dict[str, str | None]
# Identity kinds and the columns that carry them (lines; roster; provider directory).
IDENTITY_COLUMNS = {
    "claim": ("claim_id", "original_claim_id"),
    "member": ("member_cin",),
    "npi": ("billing_npi", "npi"),
}


@dataclass(frozen=True)
class RowOutcome:
    """One row of an example's extract as a run records it: physical line and rule ids."""

    source_row: int  # within the example's own file: the header is line 1
    rule_ids: tuple[str, ...]  # encounter_rejects.rule_ids (empty when the row is accepted)
    warn_rule_ids: tuple[str, ...]
    file: str = "encounters.csv"  # or members.csv / providers.csv (roster_rejects.rule_ids)

    @property
    def fired(self) -> set[str]:
        return {*self.rule_ids, *self.warn_rule_ids}


@dataclass
class _Placed:
    """An example made concrete: its rows, the identity values it uses, how it may share a run."""

    extract: Extract
    identities: set[tuple[str, str]]
    ledger: tuple[bool, bool]  # (ledger lines, DHCS answers)
    alone: bool
    outcomes: list[RowOutcome] = field(default_factory=list)

    @property
    def physical_lines(self) -> int:
        return len(self.extract.lines)


def _fresh_npi(number: int) -> str:
    stem = f"1{80_000_000 + number:08d}"
    return next(stem + d for d in "0123456789" if npi_check_digit_ok(stem + d))


def _stated(example: Example) -> set[tuple[str, str]]:
    """Identity values the example writes itself, wherever it writes them (raw text included:
    it is read by the contract's column positions, as the header the examples get says)."""
    raw_rows = [
        dict(zip(columns, (field.strip() for field in fields), strict=False))
        for columns, texts in (
            (ENCOUNTER_COLUMNS, example.raw),
            (MEMBER_COLUMNS, example.member_raw),
            (PROVIDER_COLUMNS, example.provider_raw),
        )
        for fields in csv.reader(texts)
    ]
    rows = [
        *example.lines,
        *example.ledger,
        *({"claim_id": claim} for claim in example.dhcs),
        *raw_rows,
        example.member or {},
        example.provider or {},
    ]
    return {
        (kind, row[column])
        for row in rows
        for kind, columns in IDENTITY_COLUMNS.items()
        for column in columns
        if row.get(column)
    }


def _renamed(row: Row, mapping: dict[str, str]) -> Row:
    columns = {c for cs in IDENTITY_COLUMNS.values() for c in cs}
    return {k: mapping.get(v, v) if k in columns and v else v for k, v in row.items()}


def _place(example: Example, baseline: ExampleBaseline, number: int) -> _Placed:
    """The example's full rows: the baseline (with fresh identities where the example does not
    state the baseline's own) and the example's values over it."""
    stated = _stated(example)
    base = baseline.line
    fresh = {
        "claim": f"X{number:03d}-{base.get('claim_id')}",
        "member": f"9{8_000_000 + number:07d}A",
        "npi": _fresh_npi(number),
    }
    base_values = {
        "claim": base.get("claim_id"),
        "member": base.get("member_cin"),
        "npi": base.get("billing_npi"),
    }
    mapping = {
        value: fresh[kind]
        for kind, value in base_values.items()
        if value is not None and (kind, value) not in stated
    }
    identities = stated | {(kind, mapping.get(v, v)) for kind, v in base_values.items() if v}

    def line(partial: Row) -> Row:
        return {c: None for c in ENCOUNTER_COLUMNS} | _renamed(base, mapping) | partial

    def one(defaults: Row, columns: tuple[str, ...], override: Row | None) -> list[Row]:
        if override is None:
            return []
        return [{c: None for c in columns} | _renamed(defaults, mapping) | override]

    extract = Extract(
        lines=[*(line(partial) for partial in example.lines), *example.raw],
        members=[*one(baseline.member, MEMBER_COLUMNS, example.member), *example.member_raw],
        providers=[
            *one(baseline.provider, PROVIDER_COLUMNS, example.provider),
            *example.provider_raw,
        ],
        submitted=[line(partial) for partial in example.ledger],
        dhcs=dict(example.dhcs),
    )
    raws = (*example.raw, *example.member_raw, *example.provider_raw)
    open_quote = any(text.count('"') % 2 for text in raws)
    ledger = (bool(example.ledger), bool(example.dhcs))  # one fact each per run
    return _Placed(extract, identities, ledger=ledger, alone=open_quote)


def _batches(placed: list[_Placed], isolated: bool) -> list[list[_Placed]]:
    batches: list[list[_Placed]] = []
    for item in placed:
        home = None
        if not (isolated or item.alone):
            home = next(
                (
                    batch
                    for batch in batches
                    if not batch[0].alone
                    and batch[0].ledger == item.ledger
                    and not any(item.identities & other.identities for other in batch)
                ),
                None,
            )
        if home is None:
            batches.append([item])
        else:
            home.append(item)
    return batches


def _judge(
    batch: list[_Placed],
    baseline: ExampleBaseline,
    rules: tuple[Rule, ...] | None,
    thresholds: Thresholds,
    work_dir: Path | None,
) -> None:
    """One plan-month run over the batch's rows; each example gets its rows' outcomes back."""
    extract = Extract(
        lines=[row for item in batch for row in item.extract.lines],
        members=[row for item in batch for row in item.extract.members],
        providers=[row for item in batch for row in item.extract.providers],
        submitted=[row for item in batch for row in item.extract.submitted],
        dhcs={k: v for item in batch for k, v in item.extract.dhcs.items()},
    )
    context = baseline.context
    with (
        tempfile.TemporaryDirectory(prefix="calaim-examples-", dir=work_dir) as tmp,
        closing(small_connection()) as con,
    ):
        work = Path(tmp)
        stage_extract(con, work, extract, context.plan, context.month, context.ledger_month)
        judging.judge(
            con,
            context.plan,
            context.month,
            thresholds,
            context.today,
            work / "scratch.duckdb",
            rules,
        )
        rejected = outputs.rejects_sql(context.plan, context.month)
        accepted = outputs.accepted_sql(context.plan, context.month)
        rows = con.execute(
            f"SELECT source_row, rule_ids, warn_rule_ids FROM ({rejected}) UNION ALL "
            f"SELECT source_row, CAST([] AS VARCHAR[]), warn_rule_ids FROM ({accepted}) "
            "ORDER BY source_row"
        ).fetchall()
        roster_rows = con.execute(
            "SELECT roster, CASE roster WHEN 'members' THEN member_cin ELSE npi END, source_row, "
            "rule_ids FROM roster_rejects ORDER BY roster, source_row"
        ).fetchall()
    first = 2  # physical line of the batch's first row (after the header)
    for item in batch:
        last = first + item.physical_lines
        item.outcomes = [
            RowOutcome(int(row) - first + 2, tuple(ids), tuple(warns))
            for row, ids, warns in rows
            if first <= row < last
        ]
        first = last
    _roster_outcomes(batch, roster_rows)


def _roster_key(row: Row | str, column: str) -> str | None:
    """The CIN / NPI of a roster row an example wrote (a raw text row: its first field)."""
    if isinstance(row, str):
        fields = next(csv.reader([row]), [])
        return fields[0].strip() if fields else None
    return row.get(column)


def _roster_outcomes(batch: list[_Placed], roster_rows: list[tuple]) -> None:
    """Roster rows an example wrote that went to roster_rejects, as outcomes of that example.
    Matched by the row's CIN / NPI, which no two examples of a run share (see _batches)."""
    for roster, column in (("members", "member_cin"), ("providers", "npi")):
        hits = [
            (key, int(line), tuple(ids)) for name, key, line, ids in roster_rows if name == roster
        ]
        for item in batch:
            rows = item.extract.members if roster == "members" else item.extract.providers
            # Line within the example's own roster (header = 1), as if judged alone.
            own_line = {_roster_key(row, column): n + 2 for n, row in enumerate(rows)}
            item.outcomes += [
                RowOutcome(own_line[key], ids, (), f"{roster}.csv")
                for key, _, ids in hits
                if key in own_line and key is not None
            ]


def run_examples(
    examples: Sequence[Example],
    baseline: ExampleBaseline,
    *,
    rules: Sequence[Rule] | None = None,
    thresholds: Thresholds | None = None,
    isolated: bool = False,
    work_dir: Path | None = None,
) -> list[list[RowOutcome]]:
    """Each example's row outcomes (in file order), as judging it alone as a plan-month gives
    them. `rules` replaces the catalog's (to check that a changed rule is caught); `isolated`
    runs every example on its own instead of sharing runs."""
    placed = [_place(example, baseline, number) for number, example in enumerate(examples)]
    chosen = tuple(rules) if rules is not None else None
    for batch in _batches(placed, isolated):
        _judge(batch, baseline, chosen, thresholds or load_thresholds(), work_dir)
    return [item.outcomes for item in placed]


def example_problems(rule: Rule, outcomes: dict[tuple[str, int], list[RowOutcome]]) -> list[str]:
    """What is wrong with the rule against its examples' outcomes (keyed by (pass|fail, index)):
    a fail example must fire the rule and nothing but the rules its `also` names; a pass example
    must fire only its `also` rules. Empty when the rule behaves as its examples say."""
    if rule.examples is None:
        return [
            f"{rule.id} has no examples: add examples: {{pass: [...], fail: [...]}} in rules.yaml"
        ]
    problems = []
    for kind, cases in rule.examples.cases():
        for i, example in enumerate(cases):
            fired = set().union(*(o.fired for o in outcomes[(kind, i)]))
            expected = set(example.also) | ({rule.id} if kind == "fail" else set())
            if fired != expected:
                verb = "fire" if kind == "fail" else "pass"
                problems.append(
                    f"{rule.id} {kind}[{i}] should {verb}: expected {sorted(expected) or 'no rule'}, "
                    f"fired {sorted(fired) or 'no rule'} (rows: "
                    + "; ".join(
                        f"{'' if o.file == 'encounters.csv' else o.file + ' '}line {o.source_row} "
                        f"{sorted(o.fired) or '-'}"
                        for o in outcomes[(kind, i)]
                    )
                    + ")"
                )
    return problems
