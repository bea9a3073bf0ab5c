"""scorecard.html and index.html: one self-contained page each (inline CSS and SVG, no scripts).

Pages show counts, rates, rule ids, claim ids and file lines only; never member data.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from .charts import PALETTE, bar_chart, line_chart

STATUS_TEXT = {
    "pass": ("PASS", "Fit to send"),
    "warn": ("WARN", "Fit to send; review the warnings"),
    "fail": ("FAIL", "Not fit to send: fix the failing metrics first"),
}
BAR_COLOUR = {"reject": "#cf222e", "warn": "#bf8700"}
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

CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 color:#1f2328;background:#f6f8fa;font-size:14px;line-height:1.45}
header{background:#0b3d6b;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px;font-weight:600}
header p{margin:4px 0 0;color:#c9d7e6}
header a{color:#fff}
main{max-width:1180px;margin:0 auto;padding:20px 32px 40px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin:0 0 18px}
h2{font-size:16px;margin:0 0 12px}
.glance{display:flex;flex-wrap:wrap;gap:14px;align-items:stretch}
.verdict{flex:2 1 300px;border-radius:8px;padding:14px 18px;border:2px solid}
.verdict .label{font-size:26px;font-weight:700;letter-spacing:.5px}
.verdict .why{font-size:15px;margin-top:2px}
.tile{flex:1 1 110px;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;background:#fff}
.tile .k{font-size:12px;color:#59636e;text-transform:uppercase;letter-spacing:.4px}
.tile .v{font-size:22px;font-weight:600}
.s-pass{background:#dafbe1;border-color:#1a7f37;color:#116329}
.s-warn{background:#fff8c5;border-color:#bf8700;color:#7d4e00}
.s-fail{background:#ffebe9;border-color:#cf222e;color:#a40e26}
.s-na,.s-info{background:#f6f8fa;border-color:#d0d7de;color:#59636e}
.badge{display:inline-block;min-width:52px;text-align:center;padding:1px 8px;border-radius:12px;
 border:1px solid;font-size:12px;font-weight:700}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{font-size:12px;color:#59636e;text-transform:uppercase;letter-spacing:.3px;background:#f6f8fa}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.family td{background:#f0f3f6;font-weight:600;color:#0b3d6b}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:14px}
figure{margin:0;border:1px solid #eaeef2;border-radius:6px;padding:10px}
figcaption{font-weight:600;font-size:13px;margin-bottom:6px}
.muted{color:#59636e;font-size:12px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.examples code{display:inline-block;margin:0 6px 2px 0}
footer{color:#59636e;font-size:12px;max-width:1180px;margin:0 auto;padding:0 32px 30px}
a{color:#0b5cad}
"""


def _css_status(status: str) -> str:
    return "s-na" if status == "n/a" else f"s-{status}"


def badge(status: str) -> str:
    return f'<span class="badge {_css_status(status)}">{escape(status.upper())}</span>'


def fmt_value(value: float | None, unit: str) -> str:
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


def _page(title: str, header: str, body: str, footer: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header>{header}</header><main>{body}</main><footer>{footer}</footer></body></html>\n"
    )


def _tile(key: str, value: str) -> str:
    return f'<div class="tile"><div class="k">{escape(key)}</div><div class="v">{escape(value)}</div></div>'


def _glance(card: dict[str, Any]) -> str:
    label, why = STATUS_TEXT[card["status"]]
    counts = card["status_counts"]
    t = card["totals"]
    score = "–" if card["score"] is None else f"{card['score']:.1f}"
    return (
        '<section id="glance"><h2>Status at a glance</h2><div class="glance">'
        f'<div class="verdict {_css_status(card["status"])}" id="status">'
        f'<div class="label">{label}</div><div class="why">{escape(why)}</div>'
        f'<div class="muted">{counts["fail"]} failing, {counts["warn"]} warning, {counts["pass"]} passing metrics'
        f" ({counts['n/a']} not applicable)</div></div>"
        + _tile("Grade", card["grade"])
        + _tile("Score (of 100)", score)
        + _tile("Lines read", f"{t['rows_read']:,}")
        + _tile("Rejected", f"{t['rejected']:,}")
        + _tile("Reject rate", f"{t['reject_rate']:.2%}")
        + "</div></section>"
    )


def _checks(card: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(c['check'])}</code></td><td>{escape(c['severity'])}</td>"
        f"<td>{badge('pass' if c['passed'] else ('fail' if c['severity'] == 'ERROR' else 'warn'))}</td>"
        f"<td>{escape(c['summary'])}</td></tr>"
        for c in card["checks"]
    )
    return (
        '<section id="checks"><h2>Plan-month checks</h2>'
        '<p class="muted">ERROR checks block the 837 submission of this month; WARN checks do not.</p>'
        "<table><thead><tr><th>check</th><th>severity</th><th>status</th><th>result</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def _charts(card: dict[str, Any]) -> str:
    trend = card["trend"]
    labels = [p["month"] for p in trend]
    reject = next(r for r in card["metrics"] if r["metric_id"] == "reject_rate")
    paid = next(r for r in card["metrics"] if r["metric_id"] == "paid_within_90")
    figures = [
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
                [(r["rule_id"], r["rows"], f"{r['rows']:,}") for r in card["top_failing_rules"]],
                colours=[BAR_COLOUR[r["severity"]] for r in card["top_failing_rules"]],
                empty_text="no rule fired this month",
            ),
        ),
    ]
    inner = "".join(
        f"<figure><figcaption>{escape(t)}</figcaption>{svg}</figure>" for t, svg in figures
    )
    return (
        '<section id="charts"><h2>Trends over the plan\'s months</h2>'
        f'<div class="charts">{inner}</div>'
        '<p class="muted">Failing-rule bars: red = reject rule, amber = warn rule.</p></section>'
    )


def _examples(examples: Sequence[dict]) -> str:
    return "".join(
        f"<code>{escape(e['claim_id'] or '?')} @ {escape(e['file'])}:{e['line']}</code>"
        for e in examples
    )


def _top_rules(card: dict[str, Any]) -> str:
    if not card["top_failing_rules"]:
        return '<section id="top-rules"><h2>Top failing rules</h2><p>No rule fired this month.</p></section>'
    rows = "".join(
        f'<tr><td><code>{escape(r["rule_id"])}</code><div class="muted">{escape(r["description"])}</div></td>'
        f"<td>{escape(r['family'])}</td><td>{escape(r['severity'])}</td>"
        f'<td class="num">{r["rows"]:,}</td><td class="num">{r["rate"]:.2%}</td>'
        f'<td class="examples">{_examples(r["examples"])}</td></tr>'
        for r in card["top_failing_rules"]
    )
    return (
        '<section id="top-rules"><h2>Top failing rules: what to fix</h2>'
        '<table><thead><tr><th>rule</th><th>family</th><th>severity</th><th class="num">rows</th>'
        '<th class="num">of lines</th><th>examples (claim id @ file:line)</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )


def _metrics_table(card: dict[str, Any]) -> str:
    body = []
    families: dict[str, list[dict]] = {}
    for row in card["metrics"]:
        families.setdefault(row["family"], []).append(row)
    hidden = 0
    for family in FAMILY_TITLES:
        rows = families.get(family, [])
        if family == "rules":
            shown = [r for r in rows if r["value"]]
            hidden = len(rows) - len(shown)
            rows = shown
        if not rows:
            continue
        score = card["family_scores"].get(family)
        suffix = f" · family score {score:.0f}" if score is not None else ""
        body.append(
            f'<tr class="family"><td colspan="5">{escape(FAMILY_TITLES[family])}{suffix}</td></tr>'
        )
        for r in rows:
            body.append(
                f'<tr><td>{escape(r["label"])}<div class="muted"><code>{escape(r["metric_id"])}</code></div></td>'
                f'<td class="num">{escape(fmt_value(r["value"], r["unit"]))}</td>'
                f'<td class="num">{escape(fmt_threshold(r))}</td><td>{badge(r["status"])}</td>'
                f'<td>{escape(r["detail"])}<div class="muted">{escape(r["source"])}</div></td></tr>'
            )
    note = f'<p class="muted">{hidden} other catalog rules flagged no row this month (listed in scorecard.json).</p>'
    return (
        '<section id="metrics"><h2>Metrics</h2>'
        '<table><thead><tr><th>metric</th><th class="num">value</th><th class="num">threshold</th>'
        "<th>status</th><th>detail · threshold source</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{note}</section>"
    )


def _files(card: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(f['file'])}</code></td><td>{escape(f['format'])}</td>"
        f'<td class="num">{f["rows_read"]:,}</td><td class="num">{f["accepted"]:,}</td>'
        f'<td class="num">{f["rejected"]:,}</td><td class="num">{f["unparseable"]:,}</td></tr>'
        for f in card["files"]
    )
    return (
        '<section id="files"><h2>Files</h2><table><thead><tr><th>file</th><th>format</th>'
        '<th class="num">rows read</th><th class="num">accepted</th><th class="num">rejected</th>'
        f'<th class="num">unparseable</th></tr></thead><tbody>{rows}</tbody></table></section>'
    )


def scorecard_html(card: dict[str, Any], index_href: str = "../../index.html") -> str:
    plan, month = card["plan"], card["month"]
    header = (
        f"<h1>Encounter data quality scorecard · {escape(plan)} · {escape(month)}</h1>"
        f'<p>Medi-Cal managed-care encounter extract · <a href="{escape(index_href)}">all plans</a></p>'
    )
    body = (
        _glance(card)
        + _checks(card)
        + _charts(card)
        + _top_rules(card)
        + _metrics_table(card)
        + _files(card)
    )
    footer = (
        f"Generated {escape(card['generated_at'])} from the plan-month's validation metrics. "
        "Score: 100 × the mean over rule families of the mean points of their graded metrics "
        "(pass 1, warn 0.5, fail 0); any failing metric caps the grade. Metric meanings, thresholds and "
        "sources: docs/metrics.md. This page holds counts, rates, rule ids and claim ids only."
    )
    return _page(f"DQ scorecard {plan} {month}", header, body, footer)


def index_html(
    month: str, cards: Sequence[dict[str, Any]], months: Sequence[str], href_prefix: str
) -> str:
    """All plans side by side for one month; href_prefix leads from the page to scorecards/."""
    rows = []
    for card in cards:
        metric = {r["metric_id"]: r for r in card["metrics"]}
        href = f"{href_prefix}{card['plan']}/{card['month']}/scorecard.html"
        counts = card["status_counts"]
        cells = [
            f'<td><a href="{escape(href)}"><strong>{escape(card["plan"])}</strong></a></td>',
            f"<td>{badge(card['status'])}</td>",
            f'<td class="num">{escape(card["grade"])}</td>',
            f'<td class="num">{"–" if card["score"] is None else format(card["score"], ".1f")}</td>',
            f'<td class="num">{card["totals"]["rows_read"]:,}</td>',
        ]
        for metric_id in (
            "reject_rate",
            "duplicate_rate",
            "paid_within_90",
            "encounters_per_member_month",
        ):
            r = metric[metric_id]
            cells.append(
                f'<td class="num">{escape(fmt_value(r["value"], r["unit"]))} {badge(r["status"])}</td>'
            )
        cells.append(f'<td class="num">{counts["fail"]} / {counts["warn"]}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    colours = {"pass": "#2da44e", "warn": "#bf8700", "fail": "#cf222e"}
    score_chart = bar_chart(
        "scores",
        f"Score per plan, {month}",
        [(c["plan"], c["score"] or 0.0, f"{c['score'] or 0:.1f} ({c['grade']})") for c in cards],
        colours=[colours[c["status"]] for c in cards],
        empty_text="no scorecard for this month",
    )
    reject_chart = bar_chart(
        "reject_rates",
        f"Reject rate per plan, {month}",
        [
            (c["plan"], c["totals"]["reject_rate"], f"{c['totals']['reject_rate']:.2%}")
            for c in cards
        ],
        colours=[PALETTE[0]] * len(cards),
        empty_text="no scorecard for this month",
    )
    month_links = " · ".join(
        f"<strong>{escape(m)}</strong>"
        if m == month
        else f'<a href="{escape(href_prefix)}{escape(m)}/index.html">{escape(m)}</a>'
        for m in months
    )
    header = (
        f"<h1>Encounter data quality · all plans · {escape(month)}</h1>"
        f"<p>Statewide comparison of the plan-month scorecards · months: {month_links}</p>"
    )
    body = (
        '<section id="plans"><h2>Plans side by side</h2>'
        '<table><thead><tr><th>plan</th><th>status</th><th class="num">grade</th><th class="num">score</th>'
        '<th class="num">lines read</th><th class="num">reject rate</th><th class="num">duplicates</th>'
        '<th class="num">paid ≤ 90 days</th><th class="num">enc. / member-month</th>'
        '<th class="num">fail / warn metrics</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
        '<section id="charts"><h2>Comparison</h2><div class="charts">'
        f"<figure><figcaption>Score per plan (colour = status)</figcaption>{score_chart}</figure>"
        f"<figure><figcaption>Reject rate per plan</figcaption>{reject_chart}</figure>"
        "</div></section>"
    )
    footer = "Each plan links to its scorecard. Counts and rates only; no member data."
    return _page(f"DQ scorecards {month}", header, body, footer)
