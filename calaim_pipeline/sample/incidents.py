"""Incidents: a plan-month whose extract went wrong in one realistic way, on top of the usual
scattered defects.

Why: a sample where every month passes gives a compliance reviewer nothing to practise on and the
guides no real case to show. An incident breaks an extra share of a month's claims with one defect
kind (the same injection as the scattered defects, so the truth file still records every line it
touches), which is how real extracts fail: one mapping bug or one re-sent batch, not noise.

The bundled sample (`calaim generate` without `--lines`) carries DEMO_INCIDENTS; the
generator's own default is none, so tests and benchmarks that size their own data are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .defects import DefectKind, Variant
from .defects_content import KINDS_BY_RULE


@dataclass(frozen=True)
class Incident:
    """An extra share of one plan-month's claims broken with one defect kind (and variant)."""

    rule: str  # the defect kind, by the rule it trips
    rate: float  # share of the month's claims broken this way, on top of the defect rate
    story: str  # what happened, as a reviewer would be told (docs and the generate summary)
    variant: str | None = None  # one variant of the kind; None cycles through them

    def kind(self) -> DefectKind:
        return KINDS_BY_RULE[self.rule]

    def variants(self) -> tuple[Variant, ...]:
        kind = self.kind()
        if self.variant is None:
            return kind.variants
        return tuple(v for v in kind.variants if v.name == self.variant)


# The bundled sample's cases, keyed "PLAN/YYYY-MM". CHG is the smallest plan, so the docs' sample
# (tables_doc: CHG alone, same seed and months) holds exactly the bytes `make run` shows.
DEMO_INCIDENTS: Mapping[str, Incident] = {
    # A WARN check fails (duplicates above 1%); the files are still built.
    "CHG/2026-08": Incident(
        "DUPLICATE_LINE_IN_MONTH",
        0.04,
        "the plan's vendor re-sent part of a batch: some service lines appear twice",
    ),
    # A blocking (ERROR) check fails (reject_rate above 10%); the 837 files are held back.
    "CHG/2026-09": Incident(
        "ICD10_NOT_BILLABLE",
        0.13,
        "the plan's new claims system sends ICD-10-CM category codes (E11, I50) instead of "
        "billable codes (E11.9, I50.9) on some claims",
        variant="category",
    ),
}


def check_incidents(incidents: Mapping[str, Incident]) -> None:
    """Refuse an incident the generator cannot inject, before anything is written."""
    for key, incident in incidents.items():
        plan, _, month = key.partition("/")
        if not plan or not month:
            raise ValueError(f"incident key {key!r} must be PLAN/YYYY-MM")
        if incident.rule not in KINDS_BY_RULE:
            raise ValueError(f"incident {key}: no defect kind trips {incident.rule!r}")
        if not incident.variants():
            raise ValueError(f"incident {key}: {incident.rule} has no variant {incident.variant!r}")
        if not 0.0 < incident.rate < 1.0:
            raise ValueError(f"incident {key}: rate must be within (0, 1)")
