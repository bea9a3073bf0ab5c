"""While both 837 writers exist: the columnar renderer (``submission/x12/``) writes exactly the
bytes of the per-segment writer (``submission/x12_837.py``) for the hand-built claims and for the
property test's random claims (the bundled sample's identity is in test_submission.py)."""

from __future__ import annotations

import io
from dataclasses import replace

from hypothesis import HealthCheck, Phase, assume, given, settings

from calaim_pipeline.settings import load_plans
from calaim_pipeline.submission.control import ControlNumbers
from calaim_pipeline.submission.x12_837 import Claim, build_837, write_837
from calaim_pipeline_tests.test_x12_837 import (
    CREATED,
    PLAN,
    RECEIVER,
    _random_file,
    institutional_claims,
    member,
    professional_claims,
)
from calaim_pipeline_tests.x12_lake import render


def _same(transaction: str, claims: list[Claim], **kwargs) -> None:
    control = ControlNumbers(42, 42)
    old = io.StringIO()
    expected = write_837(old, transaction, claims, PLAN, RECEIVER, control, CREATED, **kwargs)  # type: ignore[arg-type]
    new, totals = render(transaction, claims, PLAN, RECEIVER, control, CREATED, **kwargs)
    assert new == old.getvalue()
    assert (totals.transaction_sets, totals.claims, totals.lines) == (
        expected.transaction_sets,
        expected.claims,
        expected.lines,
    )
    assert (totals.billed, totals.paid) == (expected.billed, expected.paid)


def test_hand_built_claims_are_byte_identical() -> None:
    _same("837P", professional_claims())
    _same("837I", institutional_claims())


def test_transaction_sets_and_subscriber_runs_are_byte_identical() -> None:
    base = professional_claims()[0]
    _same(
        "837P",
        [replace(base, claim_id=f"P-{i:04d}") for i in range(7)],
        claims_per_transaction_set=3,
    )
    _same("837P", [replace(base, claim_id=f"P-{i:04d}") for i in range(101)])
    mixed = professional_claims() * 3
    mixed = [replace(c, claim_id=f"{c.claim_id}-{i:02d}") for i, c in enumerate(mixed)]
    _same("837P", sorted(mixed, key=lambda c: c.claim_id), claims_per_transaction_set=4)


def test_reduced_text_and_plan_registry_are_byte_identical() -> None:
    odd = member(last_name="Peña*O'Brien~", first_name="José:Luis^", address_line_1="12  Calle   Ñ")
    _same("837P", [replace(professional_claims()[0], member=odd)])
    registry = load_plans()
    for code in registry.codes:
        control = ControlNumbers(7, 7)
        claims = institutional_claims()[:1]
        plan = registry.plan(code)
        old = build_837("837I", claims, plan, registry.receiver, control, CREATED)
        new, _ = render("837I", claims, plan, registry.receiver, control, CREATED)
        assert new == old


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_random_file())
def test_random_claims_are_byte_identical(case: tuple[str, list[Claim]]) -> None:
    """The property test's cases (test_x12_837._random_file), without pyx12: both writers."""
    transaction, claims = case
    # The lake holds one directory row per NPI and one roster row per CIN: cases where two
    # different providers (or members) share one cannot come from the lake.
    providers = {p for c in claims for p in (c.billing, c.rendering, c.attending) if p is not None}
    assume(len({p.npi for p in providers}) == len(providers))
    members = {c.member for c in claims}
    assume(len({m.cin for m in members}) == len(members))
    _same(transaction, claims)
