"""Configuration: the plans registry, the thresholds file and the data root.

Both YAML files are validated when loaded; an error names the file and the bad key, so a typo in
a threshold fails the run at start-up instead of quietly changing a rule.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
PLAN_CODE_PATTERN = re.compile(r"[A-Z0-9_]{2,12}")
MONTH_PATTERN = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


class ConfigError(ValueError):
    """A configuration file is missing a key or holds a bad value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _defaults(data: Any, default_key: str, keys: tuple[str, ...]) -> Any:
    """Fill each of ``keys`` left out of a registry entry from ``default_key`` (older registries
    name one id for several elements)."""
    if isinstance(data, dict) and default_key in data:
        return {**{k: data[default_key] for k in keys}, **data}
    return data


class Receiver(_Strict):
    """DHCS as the 837's receiver and destination payer: one key per X12 element
    (docs/decisions.md "Trading-partner identifiers"); ``id`` fills any of them left out."""

    name: str  # 1000B NM103 and 2010BB NM103
    id: str = Field(min_length=2, max_length=15)
    isa_qualifier: str = Field(min_length=2, max_length=2)  # ISA07
    isa_receiver_id: str = Field(min_length=2, max_length=15)  # ISA08
    gs_receiver_code: str = Field(min_length=2, max_length=15)  # GS03
    submitter_receiver_id: str = Field(min_length=2, max_length=80)  # 1000B NM109
    payer_id: str = Field(min_length=2, max_length=80)  # 2010BB NM109 (destination payer)

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        keys = ("isa_receiver_id", "gs_receiver_code", "submitter_receiver_id", "payer_id")
        return _defaults(data, "id", keys)


class Plan(_Strict):
    code: str
    name: str  # 1000A NM103 and 2330B NM103
    counties: list[str] = Field(min_length=1)
    submitter_id: str = Field(min_length=2, max_length=15)  # 1000A NM109 (the ETIN)
    isa_sender_qualifier: str = Field(min_length=2, max_length=2)  # ISA05
    isa_sender_id: str = Field(min_length=1, max_length=15)  # ISA06
    gs_sender_code: str = Field(min_length=2, max_length=15)  # GS02
    # 2330B NM109 and 2430 SVD01: the plan as the payer that adjudicated the encounter (the TR3
    # requires the two to be equal). Defaults to submitter_id.
    payer_id: str = Field(min_length=2, max_length=80)
    contact_name: str
    contact_phone: str = Field(pattern=r"^\d{10}$")

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        return _defaults(data, "submitter_id", ("payer_id",))

    @field_validator("code")
    @classmethod
    def _code_is_safe(cls, value: str) -> str:
        if not PLAN_CODE_PATTERN.fullmatch(value):
            raise ValueError("must be 2-12 characters of A-Z, 0-9 and _")
        return value

    @field_validator("counties")
    @classmethod
    def _counties_are_california(cls, value: list[str]) -> list[str]:
        for county in value:
            if not (len(county) == 2 and county.isdigit() and 1 <= int(county) <= 58):
                raise ValueError(f"county {county!r} is not a California county code 01-58")
        return value


class PlansRegistry(_Strict):
    receiver: Receiver
    plans: list[Plan] = Field(min_length=1)

    @field_validator("plans")
    @classmethod
    def _codes_unique(cls, value: list[Plan]) -> list[Plan]:
        codes = [plan.code for plan in value]
        duplicated = sorted({code for code in codes if codes.count(code) > 1})
        if duplicated:
            raise ValueError(f"plan codes repeat: {', '.join(duplicated)}")
        return value

    def plan(self, code: str) -> Plan:
        for plan in self.plans:
            if plan.code == code:
                return plan
        raise KeyError(code)

    @property
    def codes(self) -> list[str]:
        return [plan.code for plan in self.plans]


class Sourced(_Strict):
    """A value with the place it comes from ("assumed: ..." when no primary source fixes it)."""

    value: Any
    source: str = Field(min_length=3)


class CheckThresholds(_Strict):
    reject_rate_max: Sourced
    field_completeness_min: Sourced
    family_validity_min: Sourced
    volume_band: Sourced
    volume_history_months: Sourced
    utilisation_min: Sourced
    utilisation_max: Sourced
    utilisation_min_members: Sourced
    paid_within_days: Sourced
    paid_within_share_min: Sourced
    duplicate_rate_max: Sourced
    ecm_cs_valid_share_min: Sourced
    dhcs_acceptance_rate_min: Sourced
    dhcs_277ca_wait_days_max: Sourced

    def value(self, name: str) -> float:
        return float(getattr(self, name).value)


class Thresholds(_Strict):
    first_month: Sourced
    submission_due_day: Sourced
    late_paid_days: Sourced
    units_bound: Sourced
    inpatient_facility_types: Sourced
    valid_place_of_service: Sourced
    checks: CheckThresholds

    @field_validator("first_month")
    @classmethod
    def _month_format(cls, value: Sourced) -> Sourced:
        if not MONTH_PATTERN.fullmatch(str(value.value)):
            raise ValueError("value must be YYYY-MM")
        return value

    @field_validator("units_bound")
    @classmethod
    def _bound_has_default(cls, value: Sourced) -> Sourced:
        if not isinstance(value.value, dict) or "default" not in value.value:
            raise ValueError("value must be a mapping with a 'default' bound")
        return value


def _format_error(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<root>"
        lines.append(f"  {key}: {item['msg']}")
    return "\n".join(lines)


def _load_yaml(path: Path, model: type[BaseModel]) -> Any:
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None


BUNDLED_CONFIG_DIR = PACKAGE_DIR / "config"
# profiles.yaml (ingest profiles, ingest/profiles.py) is optional: a plan without one reads the
# contract's own shape.
CONFIG_FILES = ("plans.yaml", "thresholds.yaml", "profiles.yaml")


def config_file(name: str) -> Path:
    """The configuration file `name` in effect: CALAIM_CONFIG_DIR's copy when it has one, else
    the bundled file. Why per file: a team that only adds a plan should not have to copy (and
    then keep in step) the thresholds. A CALAIM_CONFIG_DIR that is not a folder, or holds none
    of the files, is refused: it is almost surely a typo that would silently run the defaults."""
    configured = os.environ.get("CALAIM_CONFIG_DIR")
    if not configured:
        return BUNDLED_CONFIG_DIR / name
    folder = Path(configured).resolve()
    if not folder.is_dir():
        raise ConfigError(f"CALAIM_CONFIG_DIR={configured}: not a folder")
    if not any((folder / f).is_file() for f in CONFIG_FILES):
        raise ConfigError(
            f"CALAIM_CONFIG_DIR={configured}: holds none of {', '.join(CONFIG_FILES)}; "
            "put the file(s) you change there (the others come from the bundled config)"
        )
    own = folder / name
    return own if own.is_file() else BUNDLED_CONFIG_DIR / name


@cache
def _plans_at(path: Path) -> PlansRegistry:
    return _load_yaml(path, PlansRegistry)


@cache
def _thresholds_at(path: Path) -> Thresholds:
    return _load_yaml(path, Thresholds)


def plans_at(path: Path) -> PlansRegistry:
    """The plans registry of one file (e.g. the bundled one, for the production check)."""
    return _plans_at(path)


def load_plans() -> PlansRegistry:
    return _plans_at(config_file("plans.yaml"))


def load_thresholds() -> Thresholds:
    return _thresholds_at(config_file("thresholds.yaml"))


@dataclass(frozen=True)
class DataPaths:
    """Every folder under the data root; one setting (CALAIM_DATA_DIR) moves them together."""

    root: Path
    # A step's private copy of an object-storage data root (storage/session.py), thrown away when
    # the step ends: nothing that only serves readers on this machine is kept there.
    ephemeral: bool = False

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / "calaim.duckdb"

    @property
    def work(self) -> Path:
        """Scratch space for staging files and DuckDB spill; safe to delete between runs."""
        return self.root / "work"

    @property
    def submissions(self) -> Path:
        return self.root / "submissions"

    @property
    def scorecards(self) -> Path:
        return self.root / "scorecards"

    @property
    def responses(self) -> Path:
        """DHCS's 999 and 277CA files land in responses/<PLAN>/ (docs/data-engineers.md)."""
        return self.root / "responses"


@dataclass(frozen=True)
class DuckDBLimits:
    """What one plan-month's DuckDB may use: a memory cap (it spills to disk beyond it) and
    threads. From the Dagster resource in runs (defs/resources.py), else the environment."""

    memory_limit: str = "1500MB"
    threads: int = 0  # 0: every core

    @classmethod
    def from_env(cls) -> DuckDBLimits:
        return cls(
            memory_limit=os.environ.get("CALAIM_DUCKDB_MEMORY", cls.memory_limit),
            threads=int(os.environ.get("CALAIM_DUCKDB_THREADS", 0)),
        )

    def duckdb_config(self) -> dict[str, Any]:
        return {"memory_limit": self.memory_limit, "threads": self.threads or os.cpu_count() or 2}


def data_paths() -> DataPaths:
    """The data root: CALAIM_DATA_DIR, else ./data in the project."""
    return DataPaths(Path(os.environ.get("CALAIM_DATA_DIR", PROJECT_DIR / "data")).resolve())
