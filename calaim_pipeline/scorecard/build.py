"""Build and write scorecards: dq_scorecard Parquet in the lake, scorecard.json/.html, the index.

Reads only metrics.json files (lake/_metrics); every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from calaim_pipeline import lake
from calaim_pipeline.settings import MONTH_PATTERN, DataPaths, Thresholds, load_thresholds

from .catalog import Catalog, load_catalog
from .compute import compute_scorecard
from .render_html import index_html, latest_index_html, scorecard_html

TABLE = "dq_scorecard"
SCHEMA = pa.schema(
    [
        ("plan_code", pa.string()),
        ("extract_month", pa.string()),
        ("metric_id", pa.string()),
        ("family", pa.string()),
        ("label", pa.string()),
        ("unit", pa.string()),
        ("direction", pa.string()),
        ("value", pa.float64()),
        ("threshold", pa.float64()),
        ("threshold_high", pa.float64()),
        ("status", pa.string()),
        ("on_breach", pa.string()),
        ("scored", pa.bool_()),
        ("source", pa.string()),
        ("detail", pa.string()),
        ("score", pa.float64()),
        ("grade", pa.string()),
    ]
)


@dataclass(frozen=True)
class ScorecardFiles:
    plan: str
    month: str
    card: dict[str, Any]
    html: Path
    json: Path
    parquet: Path


def scorecard_dir(paths: DataPaths, plan: str, month: str) -> Path:
    return paths.scorecards / plan / month


def plan_months(lake_root: Path, plan: str) -> list[str]:
    """Months of a plan that have metrics in the lake, oldest first."""
    return lake.partition_months(lake_root, lake.METRICS_TABLE, plan, "metrics.json")


def lake_plans(lake_root: Path) -> list[str]:
    return lake.partition_plans(lake_root, lake.METRICS_TABLE)


def table_rows(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The dq_scorecard rows of a plan-month: one per metric plus the overall score and grade."""
    common = {
        "plan_code": card["plan"],
        "extract_month": card["month"],
        "score": card["score"],
        "grade": card["grade"],
    }
    rows = [{**common, **{k: r[k] for k in SCHEMA.names if k in r}} for r in card["metrics"]]
    rows.append(
        {
            **common,
            "metric_id": "overall_score",
            "family": "overall",
            "label": "Overall score and grade",
            "unit": "score",
            "direction": "info",
            "value": card["score"],
            "status": card["status"],
            "scored": False,
            "source": "calaim_pipeline/scorecard/catalog.yaml grading (assumed)",
            "detail": f"grade {card['grade']}; fit to send: {'yes' if card['fit_to_send'] else 'no'}",
        }
    )
    return rows


def build_scorecard(
    paths: DataPaths,
    plan: str,
    month: str,
    *,
    thresholds: Thresholds | None = None,
    catalog: Catalog | None = None,
) -> ScorecardFiles:
    """Score one plan-month from its metrics.json and write its Parquet, JSON and HTML.

    Raises FileNotFoundError when the plan-month has not been validated (no metrics.json).
    """
    if not MONTH_PATTERN.fullmatch(month):
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    thresholds = thresholds or load_thresholds()
    catalog = catalog or load_catalog()
    metrics = lake.read_metrics(paths.lake, plan, month)
    if metrics is None:
        raise FileNotFoundError(
            f"{plan} {month}: no metrics.json in the lake; validate the month first"
        )
    history = [
        h
        for earlier in plan_months(paths.lake, plan)
        if earlier < month and (h := lake.read_metrics(paths.lake, plan, earlier)) is not None
    ]
    card = compute_scorecard(metrics, history, catalog, thresholds)
    card["generated_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = scorecard_dir(paths, plan, month)
    parquet = lake.write_partition(
        paths.lake, TABLE, plan, month, pa.Table.from_pylist(table_rows(card), schema=SCHEMA)
    )
    lake.write_text_atomic(
        out / "scorecard.json", json.dumps(card, indent=2, sort_keys=True) + "\n"
    )
    lake.write_text_atomic(out / "scorecard.html", scorecard_html(card))
    return ScorecardFiles(
        plan, month, card, out / "scorecard.html", out / "scorecard.json", parquet
    )


def _read_card(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _plan_dirs(paths: DataPaths) -> list[Path]:
    if not paths.scorecards.is_dir():
        return []
    # scorecards/ holds <PLAN>/ folders and the <YYYY-MM>/ folders of the month index pages.
    return sorted(
        p for p in paths.scorecards.iterdir() if p.is_dir() and not MONTH_PATTERN.fullmatch(p.name)
    )


def _cards_for_month(paths: DataPaths, month: str) -> list[dict[str, Any]]:
    return [
        _read_card(path)
        for plan_dir in _plan_dirs(paths)
        if (path := plan_dir / month / "scorecard.json").is_file()
    ]


def _latest_cards(paths: DataPaths) -> list[dict[str, Any]]:
    """Each plan's scorecard of its own latest month, by plan.

    Plans drop on their own schedules: a plan whose data stopped in August keeps its August card
    here instead of disappearing from the top index once another plan's September arrives.
    """
    cards = []
    for plan_dir in _plan_dirs(paths):
        months = sorted(
            p.parent.name
            for p in plan_dir.glob("*/scorecard.json")
            if MONTH_PATTERN.fullmatch(p.parent.name)
        )
        if months:
            cards.append(_read_card(plan_dir / months[-1] / "scorecard.json"))
    return cards


def scorecard_months(paths: DataPaths) -> list[str]:
    """Months that have at least one plan's scorecard.json, oldest first."""
    if not paths.scorecards.is_dir():
        return []
    return sorted(
        {
            p.parent.name
            for p in paths.scorecards.glob("*/*/scorecard.json")
            if MONTH_PATTERN.fullmatch(p.parent.name)
        }
    )


def build_index(paths: DataPaths, month: str | None = None) -> Path | None:
    """Write the statewide index pages; returns scorecards/index.html (None: no scorecards yet).

    scorecards/<month>/index.html shows all plans of one month, for every month with scorecards
    (or just `month`, when one month's scorecards changed). scorecards/index.html shows each plan's
    own latest month and links every month's page, so older months are one click away. The top
    page is always rewritten: any new scorecard can change some plan's latest month.
    """
    months = scorecard_months(paths)
    if not months:
        return None
    for m in [month] if month in months else months:
        html = index_html(m, _cards_for_month(paths, m), months, href_prefix="../")
        lake.write_text_atomic(paths.scorecards / m / "index.html", html)
    top = paths.scorecards / "index.html"
    lake.write_text_atomic(top, latest_index_html(_latest_cards(paths), months))
    return top


def build_all(
    paths: DataPaths, plans: list[str] | None = None, months: list[str] | None = None
) -> list[ScorecardFiles]:
    """Scorecards for every validated plan-month in the lake (optionally only some), then the index."""
    thresholds, catalog = load_thresholds(), load_catalog()
    built = []
    for plan in plans or lake_plans(paths.lake):
        for month in plan_months(paths.lake, plan):
            if months is None or month in months:
                built.append(
                    build_scorecard(paths, plan, month, thresholds=thresholds, catalog=catalog)
                )
    build_index(paths)
    return built
