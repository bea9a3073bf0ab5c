"""The plan-month check catalog (checks.yaml): each check's name, severity, limit and description.

Defined once so the asset checks, the gate, the scorecard statuses, the CLI summary and the docs
cannot disagree on how severe a check is or which threshold it reads. Errors use the catalog's one
format (file, then `key.path: message`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from calaim_pipeline.catalog import (
    CATALOG_DIR,
    CatalogError,
    format_problems,
    repeated,
    validation_problems,
)

CHECKS_PATH = CATALOG_DIR / "checks.yaml"
CheckSeverity = Literal["ERROR", "WARN"]
BLOCKING_SEVERITY: CheckSeverity = "ERROR"  # blocks the month's submission (gate.py)


def is_blocking(severity: str) -> bool:
    """Whether a check of this severity blocks the plan-month's submission."""
    return severity == BLOCKING_SEVERITY


class Limit(BaseModel):
    """Which `checks.<key>` thresholds the check compares against (see checks.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min: str | None = None
    max: str | None = None
    band: str | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Limit:
        if self.band is not None and (self.min or self.max):
            raise ValueError("a band stands alone: give 'band', or 'min' and/or 'max'")
        if not (self.band or self.min or self.max):
            raise ValueError("give 'min', 'max', both, or 'band'")
        return self

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k in (self.min, self.max, self.band) if k)


PLAN_MONTH_ASSET = "encounter_lines"


class CheckSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    # The asset the check is about: encounter_lines (judged from the month's metrics, the default)
    # or dhcs_responses (judged from DHCS's answers, responses/checks.py).
    asset: str = Field(default=PLAN_MONTH_ASSET, pattern=r"^[a-z][a-z0-9_]*$")
    severity: CheckSeverity
    limit: Limit | None = None
    description: str = Field(min_length=10)

    @property
    def blocking(self) -> bool:
        """An ERROR check blocks the plan-month's submission (gate.py); a WARN check never does."""
        return is_blocking(self.severity)

    @property
    def status_on_breach(self) -> Literal["fail", "warn"]:
        """The scorecard status of a metric that grades this check when its threshold is breached."""
        return "fail" if self.blocking else "warn"


class ChecksCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    checks: list[CheckSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_unique(self) -> ChecksCatalog:
        if twice := repeated([c.name for c in self.checks]):
            raise ValueError(f"check names repeated: {twice}")
        return self


def load_checks_at(path: Path, threshold_keys: set[str] | None = None) -> ChecksCatalog:
    """Load and validate a checks catalog; every limit must name a key of thresholds.yaml `checks`."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(format_problems(path, "check catalog", [("<root>", str(exc))])) from None
    try:
        catalog = ChecksCatalog.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(
            format_problems(path, "check catalog", validation_problems(exc, raw, "checks"))
        ) from None
    if threshold_keys is None:
        from calaim_pipeline.settings import load_thresholds

        threshold_keys = set(type(load_thresholds().checks).model_fields)
    problems = [
        (f"checks.{i}({c.name}).limit", f"{key!r} is not a key of thresholds.yaml checks")
        for i, c in enumerate(catalog.checks)
        for key in (c.limit.keys if c.limit else ())
        if key not in threshold_keys
    ]
    if problems:
        raise CatalogError(format_problems(path, "check catalog", problems))
    return catalog


@cache
def all_checks() -> tuple[CheckSpec, ...]:
    return tuple(load_checks_at(CHECKS_PATH).checks)


def checks_for(asset: str) -> tuple[CheckSpec, ...]:
    """The checks of one asset, in catalog order."""
    return tuple(c for c in all_checks() if c.asset == asset)


def plan_month_checks() -> tuple[CheckSpec, ...]:
    """The plan-month checks judged from the month's metrics (asset encounter_lines), in the
    order the UI, the CLI and the docs list them."""
    return checks_for(PLAN_MONTH_ASSET)


def check_spec(name: str) -> CheckSpec:
    return {c.name: c for c in all_checks()}[name]
