"""scorecard.html and the index pages: Jinja2 templates (templates/*.html.j2) with autoescape.

Every page is one self-contained file (inline CSS and SVG, no scripts, a Content-Security-Policy
that loads nothing), so it opens offline from a shared folder. The templates hold the page
structure; this module prepares the values and draws the charts. Autoescape is on and undefined
names raise, so a rule description or plan code can never inject markup and a renamed card key
fails the build instead of rendering an empty cell. The charts come from charts.py, which escapes
every label itself; only they enter the templates as Markup.

Pages show counts, rates, rule ids, claim ids and file lines only; never member data.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from .charts import PALETTE, bar_chart, line_chart

STATUS_TEXT = {
    "pass": ("PASS", "Fit to send"),
    "warn": ("WARN", "Fit to send; review the warnings"),
    "fail": ("FAIL", "Not fit to send: fix the failing metrics first"),
}
BAR_COLOUR = {"reject": "#cf222e", "warn": "#bf8700"}
STATUS_COLOUR = {"pass": "#2da44e", "warn": "#bf8700", "fail": "#cf222e"}
FAMILY_TITLES = {
    "overall": "Overall",
    "completeness": "Completeness (per field)",
    "validity": "Validity",
    "consistency": "Consistency",
    "uniqueness": "Uniqueness (duplicates)",
    "timeliness": "Timeliness (service to paid)",
    "reasonability": "Reasonability",
    "referential": "Referential",
    "rules": "Rejects by rule",
}
# The metrics the index pages compare across plans, in column order.
INDEX_METRICS = ("reject_rate", "duplicate_rate", "paid_within_90", "encounters_per_member_month")


def status_class(status: str) -> str:
    """CSS class of a status badge ("n/a" is not a valid class name)."""
    return "s-na" if status == "n/a" else f"s-{status}"


def fmt_value(value: float | None, unit: str) -> str:
    """A metric value as the pages and docs/metrics.md show it (one format for both)."""
    if value is None:
        return "–"
    if unit == "share":
        return f"{value:.2%}"
    if unit == "change":
        return f"{value:+.1%}"
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def fmt_threshold(row: dict[str, Any]) -> str:
    unit, low, high = row["unit"], row["threshold"], row["threshold_high"]
    if row["direction"] == "info" or low is None:
        return "–"
    if row["direction"] == "range":
        return f"{fmt_value(low, unit)} to {fmt_value(high, unit)}"
    return ("≤ " if row["direction"] == "max" else "≥ ") + fmt_value(low, unit)


def fmt_score(score: float | None) -> str:
    """Overall score; "–" when no family was graded."""
    return "–" if score is None else f"{score:.1f}"


@cache
def environment() -> Environment:
    """The one template environment: autoescape for every template, strict about missing values."""
    env = Environment(
        loader=PackageLoader("calaim_pipeline.scorecard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        status_class=status_class,
        metric=fmt_value,
        threshold=fmt_threshold,
        score=fmt_score,
        thousands=lambda v: f"{v:,}",
        percent=lambda v: f"{v:.2%}",
    )
    return env


def _render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def _scorecard_charts(card: dict[str, Any]) -> list[tuple[str, Markup]]:
    """The four trend charts of a plan-month, as (caption, inline SVG)."""
    trend = card["trend"]
    labels = [p["month"] for p in trend]
    reject = next(r for r in card["metrics"] if r["metric_id"] == "reject_rate")
    paid = next(r for r in card["metrics"] if r["metric_id"] == "paid_within_90")
    rules = card["top_failing_rules"]
    charts = [
        (
            "Lines read per month",
            line_chart(
                "volume",
                "Lines read per month",
                labels,
                [("lines read", [p["rows_read"] for p in trend])],
                lambda v: f"{v:,.0f}",
                bars=True,
            ),
        ),
        (
            "Reject rate per month",
            line_chart(
                "reject_rate",
                "Reject rate per month",
                labels,
                [("reject rate", [p["reject_rate"] for p in trend])],
                lambda v: f"{v:.1%}",
                threshold=(f"limit {reject['threshold']:.0%}", reject["threshold"]),
            ),
        ),
        (
            "Timeliness: share of lines paid within 30 / 90 / 180 days of service",
            line_chart(
                "timeliness",
                "Share of lines paid within 30, 90 and 180 days of service",
                labels,
                [
                    ("30 days", [p["paid_within_30"] for p in trend]),
                    ("90 days", [p["paid_within_90"] for p in trend]),
                    ("180 days", [p["paid_within_180"] for p in trend]),
                ],
                lambda v: f"{v:.0%}",
                y_max=1.0,
                threshold=(f"90-day minimum {paid['threshold']:.0%}", paid["threshold"]),
            ),
        ),
        (
            "Failing rules (rows flagged this month)",
            bar_chart(
                "failing_rules",
                "Rows flagged per rule this month",
                [(r["rule_id"], r["rows"], f"{r['rows']:,}") for r in rules],
                colours=[BAR_COLOUR[r["severity"]] for r in rules],
                empty_text="no rule fired this month",
            ),
        ),
    ]
    # charts.py escapes every label and title it draws: the SVG is ours, safe to embed as is.
    return [(caption, Markup(svg)) for caption, svg in charts]


def _metric_families(card: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Metric rows grouped by family in FAMILY_TITLES order, and how many rule rows were left out.

    Rule metrics that flagged no row are left out of the page (scorecard.json keeps them): with
    ~60 catalog rules the table would otherwise bury the few that matter.
    """
    by_family: dict[str, list[dict[str, Any]]] = {}
    for row in card["metrics"]:
        by_family.setdefault(row["family"], []).append(row)
    families, hidden = [], 0
    for family, title in FAMILY_TITLES.items():
        rows = by_family.get(family, [])
        if family == "rules":
            shown = [r for r in rows if r["value"]]
            hidden = len(rows) - len(shown)
            rows = shown
        if rows:
            families.append(
                {"title": title, "score": card["family_scores"].get(family), "rows": rows}
            )
    return families, hidden


def scorecard_html(card: dict[str, Any], index_href: str = "../../index.html") -> str:
    """One plan-month's page; index_href leads to the top index, its month's index beside it."""
    families, hidden = _metric_families(card)
    return _render(
        "scorecard.html.j2",
        title=f"DQ scorecard {card['plan']} {card['month']}",
        card=card,
        status_text=STATUS_TEXT[card["status"]],
        index_href=index_href,
        month_index_href=index_href.removesuffix("index.html") + f"{card['month']}/index.html",
        charts=_scorecard_charts(card),
        families=families,
        hidden_rules=hidden,
    )


def _index_rows(
    cards: Sequence[dict[str, Any]], href_prefix: str, newest: str
) -> list[dict[str, Any]]:
    """One table row per card; href_prefix leads from the page to scorecards/."""
    rows = []
    for card in cards:
        metric = {r["metric_id"]: r for r in card["metrics"]}
        rows.append(
            {
                "plan": card["plan"],
                "href": f"{href_prefix}{card['plan']}/{card['month']}/scorecard.html",
                "month": card["month"],
                "month_href": f"{href_prefix}{card['month']}/index.html",
                "behind": card["month"] < newest,
                "status": card["status"],
                "grade": card["grade"],
                "score": card["score"],
                "rows_read": card["totals"]["rows_read"],
                "cells": [
                    (fmt_value(metric[m]["value"], metric[m]["unit"]), metric[m]["status"])
                    for m in INDEX_METRICS
                ],
                "fails": card["status_counts"]["fail"],
                "warns": card["status_counts"]["warn"],
            }
        )
    return rows


def _index_charts(
    cards: Sequence[dict[str, Any]], when: str, label_month: bool
) -> list[tuple[str, Markup]]:
    """Score and reject rate per plan; label_month names each bar's month (plans may differ)."""

    def label(card: dict[str, Any]) -> str:
        return f"{card['plan']} {card['month']}" if label_month else card["plan"]

    score_chart = bar_chart(
        "scores",
        f"Score per plan, {when}",
        [(label(c), c["score"] or 0.0, f"{c['score'] or 0:.1f} ({c['grade']})") for c in cards],
        colours=[STATUS_COLOUR[c["status"]] for c in cards],
        empty_text="no scorecard for this month",
    )
    reject_chart = bar_chart(
        "reject_rates",
        f"Reject rate per plan, {when}",
        [
            (label(c), c["totals"]["reject_rate"], f"{c['totals']['reject_rate']:.2%}")
            for c in cards
        ],
        colours=[PALETTE[0]] * len(cards),
        empty_text="no scorecard for this month",
    )
    # charts.py escapes every label and title it draws: the SVG is ours, safe to embed as is.
    return [
        ("Score per plan (colour = status)", Markup(score_chart)),
        ("Reject rate per plan", Markup(reject_chart)),
    ]


def _month_links(months: Sequence[str], current: str | None, href_prefix: str) -> list[dict]:
    return [
        {"month": m, "href": None if m == current else f"{href_prefix}{m}/index.html"}
        for m in months
    ]


def index_html(
    month: str, cards: Sequence[dict[str, Any]], months: Sequence[str], href_prefix: str
) -> str:
    """All plans side by side for one month (scorecards/<month>/index.html).

    href_prefix leads from the page to scorecards/; the page links every other month and the top
    index (each plan's latest month).
    """
    return _render(
        "index.html.j2",
        title=f"DQ scorecards {month}",
        heading=f"Encounter data quality · all plans · {month}",
        intro="Statewide comparison of the plan-month scorecards",
        month_links=_month_links(months, month, href_prefix),
        latest_href=f"{href_prefix}index.html",
        show_month=False,
        newest=month,
        rows=_index_rows(cards, href_prefix, month),
        charts=_index_charts(cards, month, label_month=False),
    )


def latest_index_html(cards: Sequence[dict[str, Any]], months: Sequence[str]) -> str:
    """Each plan's own latest scorecard month side by side (scorecards/index.html).

    A plan whose data stopped earlier still shows, with its month labelled, instead of vanishing
    from the page the day another plan's newer month arrives. Every month's page is linked.
    """
    newest = max((c["month"] for c in cards), default=months[-1] if months else "")
    return _render(
        "index.html.j2",
        title="DQ scorecards: latest month of each plan",
        heading="Encounter data quality · all plans · latest month of each plan",
        intro=f"Each plan's latest scorecard (newest month {newest}; a plan without it is marked)",
        month_links=_month_links(months, None, ""),
        latest_href=None,
        show_month=True,
        newest=newest,
        rows=_index_rows(cards, "", newest),
        charts=_index_charts(cards, "latest month of each", label_month=True),
    )
