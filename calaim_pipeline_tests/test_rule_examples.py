"""Every rule against its own pass and fail examples (rules.yaml), through the real judging steps.

The examples are judged as a plan-month run judges them (staged CSV, roster, lookups, ledger,
verdict SQL, claim holds; validation/rule_examples.py), without Dagster, in a few shared runs:
the file takes seconds. A rule without examples fails here, and so does a rule whose SQL stops
firing on its fail example or starts firing on its pass example.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from calaim_pipeline.catalog import Rule, load_catalog
from calaim_pipeline.catalog.examples import Example
from calaim_pipeline.validation.rule_examples import RowOutcome, example_problems, run_examples

pytestmark = pytest.mark.fast

CATALOG = load_catalog()
Outcomes = dict[str, dict[tuple[str, int], list[RowOutcome]]]


def judge_examples(
    of: Sequence[Rule], rules: Sequence[Rule] | None = None, isolated: bool = False
) -> Outcomes:
    """The outcomes of the examples of the rules `of`, judged under `rules` (default: catalog)."""
    cases = [
        (rule.id, kind, i, example)
        for rule in of
        if rule.examples
        for kind, examples in rule.examples.cases()
        for i, example in enumerate(examples)
    ]
    results = run_examples(
        [example for *_, example in cases],
        CATALOG.example_baseline,
        rules=rules,
        isolated=isolated,
    )
    outcomes: Outcomes = {}
    for (rule_id, kind, i, _), rows in zip(cases, results, strict=True):
        outcomes.setdefault(rule_id, {})[(kind, i)] = rows
    return outcomes


@pytest.fixture(scope="module")
def outcomes() -> Outcomes:
    return judge_examples(CATALOG.rules)


@pytest.mark.parametrize("rule", CATALOG.rules, ids=lambda rule: rule.id)
def test_rule_passes_and_fails_its_examples(rule: Rule, outcomes: Outcomes) -> None:
    problems = example_problems(rule, outcomes.get(rule.id, {}))
    assert not problems, "\n".join(problems)


def test_the_baseline_row_fires_no_rule() -> None:
    """Examples state only what they change, so the row they start from must be clean."""
    (rows,) = run_examples([Example.model_validate({})], CATALOG.example_baseline)
    assert [(row.source_row, row.fired) for row in rows] == [(2, set())]


def _with(rules: Sequence[Rule], changed: Rule) -> tuple[Rule, ...]:
    return tuple(changed if rule.id == changed.id else rule for rule in rules)


def test_a_rule_that_accepts_its_fail_example_is_caught() -> None:
    """The test of the test: UNITS_INVALID changed from `<= 0` to `< 0` lets units '0' through,
    and its examples say so."""
    rule = next(rule for rule in CATALOG.rules if rule.id == "UNITS_INVALID")
    loose = rule.model_copy(update={"when": rule.when.replace("n_units <= 0", "n_units < 0")})
    assert loose.when != rule.when
    outcomes = judge_examples([loose], rules=_with(CATALOG.rules, loose))
    assert example_problems(loose, outcomes["UNITS_INVALID"]) == [
        "UNITS_INVALID fail[0] should fire: expected ['UNITS_INVALID'], fired no rule "
        "(rows: line 2 -)"
    ]


def test_every_rule_that_stops_firing_is_caught() -> None:
    """Every rule with a `when` made to accept everything: each of its fail examples is
    reported. (ROW_UNPARSEABLE and CLAIM_HAS_REJECTED_LINE have no `when` to change: the reader
    and the claim hold decide them, and their examples run through both.)"""
    silenced = tuple(
        rule.model_copy(update={"when": f"({rule.when}) AND false"}) if rule.when else rule
        for rule in CATALOG.rules
    )
    outcomes = judge_examples([r for r in silenced if r.when and r.examples], rules=silenced)
    uncaught = [
        f"{rule.id} fail[{i}]"
        for rule in silenced
        if rule.when and rule.examples
        for i in range(len(rule.examples.fail))
        if not any(
            problem.startswith(f"{rule.id} fail[{i}] ")
            for problem in example_problems(rule, outcomes[rule.id])
        )
    ]
    assert uncaught == []


def test_a_rule_without_examples_fails() -> None:
    bare = CATALOG.rules[0].model_copy(update={"examples": None})
    assert example_problems(bare, {}) == [
        f"{bare.id} has no examples: add examples: {{pass: [...], fail: [...]}} in rules.yaml"
    ]


@pytest.mark.slow
def test_shared_runs_judge_like_one_run_per_example(outcomes: Outcomes) -> None:
    """The fast path judges examples that cannot affect each other in one run; judging each
    alone (about a minute) gives the same row outcomes."""
    assert judge_examples(CATALOG.rules, isolated=True) == outcomes
