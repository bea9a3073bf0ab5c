"""The rule catalog and reference code tables, loaded from the data files beside this module.

rules.yaml is read into pydantic models that refuse unknown keys, and every rule's SQL is then
compiled against the judged relation (validation/rule_check.py), so a typo in a `when` fails the
load naming its rule instead of surfacing mid-run as a DuckDB binder error that names none.
Errors have one format, the one settings.py uses: the file, then one `key.path: message` line per
problem, a rule named by its position and id (`rules.22(DATE_IN_FUTURE).when: ...`).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from calaim_pipeline.catalog import code_lists
from calaim_pipeline.catalog.examples import ExampleBaseline, Examples

CATALOG_DIR = Path(__file__).resolve().parent
RULES_PATH = CATALOG_DIR / "rules.yaml"

Family = Literal[
    "completeness",
    "validity",
    "consistency",
    "uniqueness",
    "timeliness",
    "reasonability",
    "referential",
]
Severity = Literal["reject", "warn"]
Stage = Literal["line", "ingest", "claim", "ledger", "roster"]
Roster = Literal["members", "providers"]
FAMILIES: tuple[str, ...] = get_args(Family)
SEVERITIES: tuple[str, ...] = get_args(Severity)
STAGES: tuple[str, ...] = get_args(Stage)
ROSTERS: tuple[str, ...] = get_args(Roster)  # the roster files a "roster" stage rule judges


class CatalogError(ValueError):
    """rules.yaml breaks its own format or a rule's SQL does not compile: names file, rule, key."""


# --- one error format for the catalog files --------------------------------------------------


def repeated(names: Sequence[str]) -> list[str]:
    """The names that occur more than once, sorted: an id or name in a catalog must be unique."""
    return sorted({name for name in names if names.count(name) > 1})


def format_problems(path: Path, what: str, problems: Sequence[tuple[str, str]]) -> str:
    """settings.py's format: the file, then `  key.path: message` for every problem."""
    return "\n".join([f"{path}: invalid {what}", *(f"  {key}: {msg}" for key, msg in problems)])


def validation_problems(
    error: ValidationError, raw: Any, named_list: str = ""
) -> list[tuple[str, str]]:
    """(key path, message) per pydantic error. Items of the top-level list `named_list` are shown
    with their id (`rules.3(CIN_FORMAT)`), so the reader finds the rule without counting."""
    problems = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        if named_list and len(loc) >= 2 and loc[0] == named_list and loc[1].isdigit():
            loc[1] = _item_label(raw, named_list, int(loc[1]))
        problems.append((".".join(loc) or "<root>", item["msg"].removeprefix("Value error, ")))
    return problems


def _item_label(raw: Any, named_list: str, position: int) -> str:
    try:
        item = raw[named_list][position]
        name = item.get("id") or item.get("name") or "?"
    except (AttributeError, IndexError, KeyError, TypeError):
        name = "?"
    return f"{position}({name})"


# --- the rules ------------------------------------------------------------------------------


def _text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Text = Annotated[str, Field(min_length=1), BeforeValidator(_text)]


class Rule(BaseModel):
    """One rule of rules.yaml (see the file's header for what each key means)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    family: Family
    severity: Severity
    description: Text
    source: Text
    stage: Stage = "line"
    when: Text | None = None
    detail: Text | None = None
    examples: Examples | None = None
    roster: Roster | None = None  # stage "roster": the roster whose rows `when` judges

    @property
    def rejects(self) -> bool:
        return self.severity == "reject"

    @model_validator(mode="after")
    def _when_matches_stage(self) -> Rule:
        if self.stage == "roster":
            # A roster rule judges one roster's rows with `when`, or (without both) is decided by
            # the CSV reader for every roster, like ROW_UNPARSEABLE for extracts.
            if (self.roster is None) != (self.when is None):
                raise ValueError("a roster rule has both 'roster' and 'when', or neither")
            return self
        if self.roster is not None:
            raise ValueError("only roster rules name a 'roster'")
        if (self.stage in ("line", "ledger")) != (self.when is not None):
            raise ValueError("line and ledger rules need 'when'; other stages must not have it")
        return self


class RulesCatalog(BaseModel):
    """rules.yaml: its format version, the clean row examples start from, and the rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    example_baseline: ExampleBaseline | None = None
    rules: tuple[Rule, ...] = Field(min_length=1)


def _cross_problems(catalog: RulesCatalog) -> list[tuple[str, str]]:
    """What one rule cannot see alone: repeated ids, examples naming unknown rules."""
    problems = []
    ids = [rule.id for rule in catalog.rules]
    twice = repeated(ids)
    if twice:
        problems.append(("rules", f"rule ids repeat: {', '.join(twice)}"))
    known = set(ids)
    for position, rule in enumerate(catalog.rules):
        for kind, example_list in rule.examples.cases() if rule.examples else []:
            for i, example in enumerate(example_list):
                unknown = sorted(set(example.also) - known)
                if unknown:
                    key = f"rules.{position}({rule.id}).examples.{kind}.{i}.also"
                    problems.append((key, f"not rule ids of this catalog: {', '.join(unknown)}"))
    if catalog.example_baseline is None and any(rule.examples for rule in catalog.rules):
        problems.append(("example_baseline", "rules carry examples, so the baseline is required"))
    return problems


def _compile_problems(catalog: RulesCatalog) -> list[tuple[str, str]]:
    """Every rule's SQL bound against the judged relation (no data); see rule_check."""
    from calaim_pipeline.validation.rule_check import compile_problems  # imports the catalog

    position = {rule.id: i for i, rule in enumerate(catalog.rules)}
    return [
        (f"rules.{position[rule_id]}({rule_id}).{key}", message)
        for rule_id, key, message in compile_problems(catalog.rules)
    ]


def load_rules_at(path: Path, *, compile_sql: bool = True) -> RulesCatalog:
    """Read and check a rules file; CatalogError lists every problem. `compile_sql=False` skips
    the SQL compile (only for tests of the format itself)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: cannot be read as YAML: {exc}") from None
    try:
        catalog = RulesCatalog.model_validate(raw)
    except ValidationError as exc:
        problems = validation_problems(exc, raw, "rules")
        raise CatalogError(format_problems(path, "rules catalog", problems)) from None
    problems = _cross_problems(catalog)
    if compile_sql and not problems:
        problems = _compile_problems(catalog)
    if problems:
        raise CatalogError(format_problems(path, "rules catalog", problems))
    return catalog


@cache
def load_catalog() -> RulesCatalog:
    """The bundled rules.yaml, checked and compiled once per process."""
    return load_rules_at(RULES_PATH)


def load_rules() -> tuple[Rule, ...]:
    return load_catalog().rules


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


# --- code lists -----------------------------------------------------------------------------


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


def catalog_fingerprint(catalog: RulesCatalog | None = None) -> str:
    """sha256 (hex) of everything in the catalog that decides a verdict: the catalog version,
    every rule without its examples, the ECM/CS code list and the ICD-10-CM list's version.

    Meant for the assets' Dagster ``code_version``: a month judged before the value changed shows
    as judged under older rules. It hashes the parsed content, not the file bytes, so comments,
    layout and examples (which test a rule, never change it) leave it unchanged, while any change
    to what a rule checks, says or how severe it is changes it. Thresholds and plans are config,
    not catalog: combine with their digest where they matter (gate.rules_fingerprint has both).
    `catalog` defaults to the bundled one (tests pass another).
    """
    catalog = catalog or load_catalog()
    payload = {
        "version": catalog.version,
        "rules": [rule.model_dump(mode="json", exclude={"examples"}) for rule in catalog.rules],
        "ecm_cs_codes": [asdict(code) for code in ecm_cs_codes()],
        **code_lists.fingerprint_payload(),
        "icd10cm": version("simple-icd-10-cm"),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
