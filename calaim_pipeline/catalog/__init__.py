"""The rule catalog and reference code tables, loaded from the data files beside this module."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

CATALOG_DIR = Path(__file__).resolve().parent
FAMILIES = (
    "completeness",
    "validity",
    "consistency",
    "uniqueness",
    "timeliness",
    "reasonability",
    "referential",
)
SEVERITIES = ("reject", "warn")
STAGES = ("line", "ingest", "claim", "ledger", "roster")
ROSTERS = ("members", "providers")  # the roster files a "roster" stage rule judges


@dataclass(frozen=True)
class Rule:
    id: str
    family: str
    severity: str
    description: str
    source: str
    stage: str = "line"
    when: str | None = None
    detail: str | None = None
    roster: str | None = None  # stage "roster": the roster whose rows `when` judges

    @property
    def rejects(self) -> bool:
        return self.severity == "reject"


class CatalogError(ValueError):
    """rules.yaml breaks its own format: named rule and key."""


def _parse_rule(raw: dict, position: int) -> Rule:
    label = f"rules.yaml rules[{position}] ({raw.get('id', '?')})"
    unknown = set(raw) - {
        "id",
        "family",
        "severity",
        "description",
        "source",
        "stage",
        "when",
        "detail",
        "roster",
    }
    if unknown:
        raise CatalogError(f"{label}: unknown key(s) {sorted(unknown)}")
    for key in ("id", "family", "severity", "description", "source"):
        if not raw.get(key):
            raise CatalogError(f"{label}: '{key}' is required")
    rule = Rule(**raw)
    if rule.family not in FAMILIES:
        raise CatalogError(f"{label}: family {rule.family!r} is not one of {FAMILIES}")
    if rule.severity not in SEVERITIES:
        raise CatalogError(f"{label}: severity {rule.severity!r} is not one of {SEVERITIES}")
    if rule.stage not in STAGES:
        raise CatalogError(f"{label}: stage {rule.stage!r} is not one of {STAGES}")
    if rule.stage == "roster":
        # A roster rule judges one roster's rows with `when`, or (without both) is decided by
        # the CSV reader for every roster, like ROW_UNPARSEABLE for extracts.
        if (rule.roster is None) != (rule.when is None):
            raise CatalogError(f"{label}: a roster rule has both 'roster' and 'when', or neither")
        if rule.roster is not None and rule.roster not in ROSTERS:
            raise CatalogError(f"{label}: roster {rule.roster!r} is not one of {ROSTERS}")
        return rule
    if rule.roster is not None:
        raise CatalogError(f"{label}: only roster rules name a 'roster'")
    if (rule.stage in ("line", "ledger")) != (rule.when is not None):
        raise CatalogError(
            f"{label}: line and ledger rules need 'when'; other stages must not have it"
        )
    return rule


@cache
def load_rules() -> tuple[Rule, ...]:
    raw = yaml.safe_load((CATALOG_DIR / "rules.yaml").read_text(encoding="utf-8"))
    rules = tuple(_parse_rule(item, i) for i, item in enumerate(raw["rules"]))
    ids = [rule.id for rule in rules]
    repeated = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
    if repeated:
        raise CatalogError(f"rules.yaml: rule ids repeat: {repeated}")
    return rules


def rules_by_id() -> dict[str, Rule]:
    return {rule.id: rule for rule in load_rules()}


def line_rules() -> tuple[Rule, ...]:
    """Rules that judge encounter lines (every stage but the rosters' own format rules)."""
    return tuple(rule for rule in load_rules() if rule.stage != "roster")


def roster_rules(roster: str | None = None) -> tuple[Rule, ...]:
    """Rules that judge roster rows: all of them, or those with `when` for one roster."""
    rules = [rule for rule in load_rules() if rule.stage == "roster"]
    if roster is None:
        return tuple(rules)
    return tuple(rule for rule in rules if rule.roster == roster)


@dataclass(frozen=True)
class EcmCsCode:
    hcpcs: str
    modifier: str
    service: str
    effective_from: str
    effective_to: str | None
    guidance_version: str


@cache
def ecm_cs_codes() -> tuple[EcmCsCode, ...]:
    """The ECM / Community Supports (HCPCS, modifier) pairs, versioned with effective dates."""
    with (CATALOG_DIR / "ecm_cs_codes.csv").open(newline="", encoding="utf-8") as handle:
        return tuple(
            EcmCsCode(**{**row, "effective_to": row["effective_to"] or None})
            for row in csv.DictReader(handle)
        )
