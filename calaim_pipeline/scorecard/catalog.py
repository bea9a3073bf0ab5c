"""The scorecard metric catalog (catalog.yaml), validated when loaded; errors name the file and key."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from calaim_pipeline.catalog import repeated
from calaim_pipeline.catalog.checks import check_spec
from calaim_pipeline.settings import ConfigError, Thresholds, load_thresholds

CATALOG_PATH = Path(__file__).resolve().parent / "catalog.yaml"
STATUSES = ("pass", "warn", "fail", "n/a", "info")
GRADED = ("pass", "warn", "fail")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdSpec(_Strict):
    """Either ref (a key of thresholds.yaml, e.g. checks.reject_rate_max) or an inline value + source."""

    ref: str | None = None
    value: float | None = None
    source: str | None = Field(default=None, min_length=3)
    scale: float = 1.0

    @model_validator(mode="after")
    def _one_origin(self) -> ThresholdSpec:
        if (self.ref is None) == (self.value is None):
            raise ValueError("give either 'ref' or 'value'")
        if self.value is not None and not self.source:
            raise ValueError("an inline value needs its 'source' (or 'assumed: ...')")
        return self


class MetricSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    check: str | None = None  # the plan-month check it grades (catalog/checks.yaml)
    family: str
    label: str
    unit: Literal["share", "ratio", "days", "count", "change"]
    direction: Literal["max", "min", "range", "info"]
    on_breach: Literal["fail", "warn"] | None = None
    threshold: ThresholdSpec | None = None
    threshold_high: ThresholdSpec | None = None
    per: Literal["field", "family", "rule"] | None = None
    scored: bool = True
    description: str = Field(min_length=10)

    @model_validator(mode="after")
    def _threshold_matches_direction(self) -> MetricSpec:
        if self.direction == "info":
            if self.threshold or self.threshold_high or self.on_breach:
                raise ValueError("an info metric has no threshold and no on_breach")
        else:
            if self.threshold is None or self.on_breach is None:
                raise ValueError(f"direction {self.direction!r} needs 'threshold' and 'on_breach'")
            if (self.direction == "range") != (self.threshold_high is not None):
                raise ValueError("'threshold_high' is required for a range and only for a range")
        return self


class GradeStep(_Strict):
    grade: str = Field(min_length=1, max_length=2)
    min_score: float = Field(ge=0, le=100)


class Grading(_Strict):
    points: dict[Literal["pass", "warn", "fail"], float]
    grades: list[GradeStep] = Field(min_length=2)
    fail_caps_grade_at: str
    source: str = Field(min_length=3)

    @model_validator(mode="after")
    def _grades_descend(self) -> Grading:
        if set(self.points) != set(GRADED):
            raise ValueError("points needs pass, warn and fail")
        scores = [g.min_score for g in self.grades]
        if scores != sorted(scores, reverse=True) or scores[-1] != 0:
            raise ValueError("grades must descend by min_score and end at 0")
        if self.fail_caps_grade_at not in [g.grade for g in self.grades]:
            raise ValueError("fail_caps_grade_at must be one of the grades")
        return self


class Catalog(_Strict):
    grading: Grading
    metrics: list[MetricSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids_unique(self) -> Catalog:
        if twice := repeated([m.id for m in self.metrics]):
            raise ValueError(f"metric ids repeated: {twice}")
        return self

    def metric(self, metric_id: str) -> MetricSpec:
        for spec in self.metrics:
            if spec.id == metric_id:
                return spec
        raise KeyError(metric_id)


@dataclass(frozen=True)
class Bound:
    """A resolved threshold: its number and where it comes from."""

    value: float
    source: str


def resolve(spec: ThresholdSpec | None, thresholds: Thresholds) -> Bound | None:
    """The threshold's value and source; a ref reads thresholds.yaml so both files never disagree."""
    if spec is None:
        return None
    if spec.ref is None:
        return Bound(float(spec.value) * spec.scale, str(spec.source))  # type: ignore[arg-type]
    node: object = thresholds
    for part in spec.ref.split("."):
        node = getattr(node, part)
    value = float(node.value) * spec.scale  # type: ignore[attr-defined]
    source = f"{node.source} (thresholds.yaml {spec.ref})"  # type: ignore[attr-defined]
    return Bound(value, source)


def _format_error(path: Path, error: ValidationError, raw: dict) -> str:
    lines = [f"{path}: invalid scorecard catalog"]
    for item in error.errors():
        loc = list(item["loc"])
        if len(loc) >= 2 and loc[0] == "metrics" and isinstance(loc[1], int):
            metric = raw.get("metrics", [])[loc[1]]
            name = metric.get("id", "?") if isinstance(metric, dict) else "?"
            loc[1] = f"{loc[1]}({name})"
        key = ".".join(str(part) for part in loc) or "<root>"
        lines.append(f"  {key}: {item['msg']}")
    return "\n".join(lines)


DERIVED_FROM_CHECK = ("direction", "on_breach", "threshold", "threshold_high")


def _from_check(path: Path, metric: object) -> object:
    """A metric that grades a plan-month check takes its direction, status on breach and
    threshold refs from the check's catalog entry, so the two can never disagree."""
    if not isinstance(metric, dict) or metric.get("check") is None:
        return metric
    name = metric.get("id", "?")
    restated = [key for key in DERIVED_FROM_CHECK if key in metric]
    if restated:
        raise ConfigError(
            f"{path}: metrics.{name}: {restated} restate(s) what check {metric['check']!r} "
            "defines in catalog/checks.yaml; remove them"
        )
    try:
        spec = check_spec(metric["check"])
    except KeyError:
        raise ConfigError(
            f"{path}: metrics.{name}.check: {metric['check']!r} is not a check of checks.yaml"
        ) from None
    limit = spec.limit
    if limit is None:  # a count that must agree: any breach of 0 is the check failing
        derived = {
            "direction": "max",
            "threshold": {
                "value": 0,
                "source": f"plan-month check {spec.name}: {spec.description}",
            },
        }
    elif limit.band:
        ref = f"checks.{limit.band}"
        derived = {
            "direction": "range",
            "threshold": {"ref": ref, "scale": -1},
            "threshold_high": {"ref": ref},
        }
    elif limit.min and limit.max:
        derived = {
            "direction": "range",
            "threshold": {"ref": f"checks.{limit.min}"},
            "threshold_high": {"ref": f"checks.{limit.max}"},
        }
    else:
        direction = "min" if limit.min else "max"
        derived = {"direction": direction, "threshold": {"ref": f"checks.{limit.keys[0]}"}}
    return {**metric, **derived, "on_breach": spec.status_on_breach}


def load_catalog_at(path: Path, thresholds: Thresholds | None = None) -> Catalog:
    """Load and validate a catalog file; every ref must name a threshold in thresholds.yaml."""
    if not path.is_file():
        raise ConfigError(f"{path}: scorecard catalog not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: <root>: expected a mapping with 'grading' and 'metrics'")
    raw = {**raw, "metrics": [_from_check(path, m) for m in raw.get("metrics") or []]}
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc, raw)) from None
    thresholds = thresholds or load_thresholds()
    for spec in catalog.metrics:
        for key in ("threshold", "threshold_high"):
            try:
                resolve(getattr(spec, key), thresholds)
            except AttributeError:
                ref = getattr(spec, key).ref
                raise ConfigError(
                    f"{path}: metrics.{spec.id}.{key}.ref: {ref!r} is not a key of thresholds.yaml"
                ) from None
    return catalog


@cache
def load_catalog() -> Catalog:
    return load_catalog_at(CATALOG_PATH)
