"""The monthly cycle on sample data: a built month is marked sent as a *simulated* review and
answered by the DHCS simulator, so the next month is judged and built against DHCS's answers.
For the bundled sample and the docs' sample warehouse only; real months are marked sent by a
person (`calaim mark-sent`) and answered by DHCS."""

from __future__ import annotations

from datetime import datetime, timedelta

from calaim_pipeline.responses.simulator import SimulatedResponse, simulate_month
from calaim_pipeline.settings import DataPaths
from calaim_pipeline.submission import ledger

SIMULATED_REVIEWER = "simulated review (DHCS simulator, sample data)"
DEFAULT_REJECT_SHARE = 0.03
# The bundled sample's DHCS incident: one plan-month DHCS rejects more of, so the acceptance
# check has a failing partition to show (docs/compliance.md).
DEMO_REJECT_SHARES = {("HPSM", "2026-07"): 0.12}


def answered_at(month: str) -> datetime:
    """When the simulated DHCS answers a month: the 12th of the next month, 09:00."""
    year, mon = (int(x) for x in month.split("-"))
    return datetime(year + mon // 12, mon % 12 + 1, 1) + timedelta(days=11, hours=9)


def send_and_answer(
    paths: DataPaths, plan: str, month: str, *, seed: int = 7, reject_share: float | None = None
) -> list[SimulatedResponse]:
    """Mark the built month sent (simulated review), then write DHCS's simulated 999s and 277CAs
    into responses/<PLAN>/ for the caller to ingest."""
    if ledger.sent_status(paths.lake, plan, month) is None:
        ledger.mark_sent(paths.lake, paths.submissions, plan, month, SIMULATED_REVIEWER)
    share = DEMO_REJECT_SHARES.get((plan, month), DEFAULT_REJECT_SHARE)
    return simulate_month(
        paths,
        plan,
        month,
        seed=seed,
        reject_share=share if reject_share is None else reject_share,
        when=answered_at(month),
    )
