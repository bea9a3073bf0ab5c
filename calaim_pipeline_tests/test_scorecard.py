"""Scorecard catalog, reference page, scoring rules and Dagster wiring (fast, no data runs)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from calaim_pipeline.scorecard import build_index
from calaim_pipeline.scorecard.catalog import load_catalog, load_catalog_at
from calaim_pipeline.scorecard.compute import compute_scorecard
from calaim_pipeline.scorecard.reference import REFERENCE_PATH, metrics_page
from calaim_pipeline.scorecard.render_html import index_html, latest_index_html, scorecard_html
from calaim_pipeline.settings import ConfigError, DataPaths, load_thresholds
from calaim_pipeline_tests.records import make_record

METRICS = {
    "plan": "CHG",
    "month": "2026-09",
    "files": [
        {"file": "encounters.csv", "format": "csv", "rows_read": 1000, "accepted": 950,
         "rejected": 50, "unparseable": 0, "reconciles": True, "extra_columns": []}
    ],
    "rows_read": 1000, "accepted": 950, "rejected": 50, "unparseable": 0,
    "accepted_with_warnings": 0, "reject_rate": 0.05, "claims_read": 400, "claims_accepted": 380,
    "claims_billed_zero": 0, "billed_total": 1.0, "paid_total": 1.0,
    "rule_counts": {"CIN_FORMAT": 50},
    "rule_examples": {"CIN_FORMAT": [{"claim_id": "CHG-1", "file": "encounters.csv", "line": 7}]},
    "completeness": {"claim_id": {"applicable": 1000, "filled": 1000, "rate": 1.0}},
    "family_validity": {
        f: {"rows_failed": 50 if f == "validity" else 0, "pass_rate": 0.95 if f == "validity" else 1.0}
        for f in ("completeness", "validity", "consistency", "uniqueness", "timeliness",
                  "reasonability", "referential")
    },
    "duplicates": {"rows": 0, "rate": 0.0},
    "ecm_cs": {"lines": 0, "invalid": 0, "valid_share": None},
    "timeliness": {"dated_lines": 1000, "paid_within_days": 90, "paid_within_share": 0.95,
                   "lag_days_p50": 40.0, "lag_days_p90": 80.0, "share_within_30": 0.3,
                   "share_within_90": 0.95, "share_within_180": 1.0},
    "utilisation": {"enrolled_members": 50, "claims_accepted": 380, "encounters_per_member_month": 7.6},
    "volume_history": [],
}  # fmt: skip


def _card(metrics: dict) -> dict:
    """The scorecard of a clean record (records.py) with `metrics`' keys in place of its own."""
    return compute_scorecard(make_record(**metrics), [], load_catalog(), load_thresholds())


def _row(card: dict, metric_id: str) -> dict:
    return next(r for r in card["metrics"] if r["metric_id"] == metric_id)


def test_metrics_reference_page_is_current():
    """docs/metrics.md is generated from the catalog: write_metrics_page() regenerates it."""
    assert REFERENCE_PATH.read_text(encoding="utf-8") == metrics_page()


def test_every_metric_states_its_threshold_source():
    thresholds = load_thresholds()
    card = compute_scorecard(make_record(**METRICS), [], load_catalog(), thresholds)
    for row in card["metrics"]:
        if row["direction"] != "info":
            assert row["threshold"] is not None and len(row["source"]) > 3, row["metric_id"]
    assert "assumed" in metrics_page()


def test_statuses_score_and_grade():
    card = _card(METRICS)
    assert _row(card, "reject_rate")["status"] == "pass"
    assert _row(card, "family_pass.validity")["status"] == "warn"  # 95% < 98%
    assert _row(card, "rule.CIN_FORMAT")["status"] == "warn"  # 5% > 2%
    assert _row(card, "volume_change")["status"] == "n/a"  # no history
    assert _row(card, "encounters_per_member_month")["status"] == "n/a"  # < 100 members
    assert _row(card, "ecm_cs_valid")["status"] == "n/a"
    assert _row(card, "lag_days_p50")["status"] == "info"
    assert card["status"] == "warn" and card["fit_to_send"]
    # validity family: one graded metric at warn -> 50; seven other graded families at 100.
    assert card["family_scores"]["validity"] == 50.0
    assert card["score"] == pytest.approx(round((50 + 100 * 7) / 8, 1))
    assert card["grade"] == "B"
    assert card["top_failing_rules"][0]["examples"][0]["claim_id"] == "CHG-1"


def test_a_failing_metric_makes_the_month_unfit_and_caps_the_grade():
    metrics = copy.deepcopy(METRICS)
    metrics.update(rejected=200, reject_rate=0.2)
    card = _card(metrics)
    assert _row(card, "reject_rate")["status"] == "fail"
    assert card["status"] == "fail" and not card["fit_to_send"]
    assert card["grade"] in ("D", "F")


def test_volume_band_comes_from_the_thresholds_file():
    metrics = copy.deepcopy(METRICS)
    metrics["volume_history"] = [{"month": "2026-08", "rows_read": 3000}]
    row = _row(_card(metrics), "volume_change")
    band = load_thresholds().checks.value("volume_band")
    assert (row["threshold"], row["threshold_high"]) == (-band, band)
    assert row["value"] == pytest.approx(-2 / 3, abs=1e-6) and row["status"] == "fail"


def test_catalog_errors_name_the_file_and_key(tmp_path: Path):
    bad = tmp_path / "catalog.yaml"
    text = (Path(load_catalog_at.__code__.co_filename).parent / "catalog.yaml").read_text()
    bad.write_text(text.replace("on_breach: warn\n    threshold: {value: 0.05, source:",
                                "on_breach: warn\n    threshold: {value: 0.05, sauce:"))  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"catalog\.yaml.*\n.*metrics\.\d+\(claims_billed_zero\)\.threshold"
    ):
        load_catalog_at(bad)
    bad.write_text(text.replace("check: reject_rate\n", "check: reject_ratee\n"))
    with pytest.raises(ConfigError, match=r"metrics\.reject_rate\.check: 'reject_ratee' is not a"):
        load_catalog_at(bad)


def test_scorecard_assets_and_index_job_are_defined():
    from calaim_pipeline.definitions import defs

    d = defs()
    plan_month = d.resolve_job_def("plan_month_job")
    assert "dq_scorecard" in {
        k.to_user_string() for k in plan_month.asset_layer.executable_asset_keys
    }
    index_job = d.resolve_job_def("statewide_index_job")
    assert {k.to_user_string() for k in index_job.asset_layer.executable_asset_keys} == {
        "scorecard_index"
    }


EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
CSP_META = (
    '<meta http-equiv="Content-Security-Policy" '
    "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
)


def _evil_card() -> dict:
    """A card whose every kind of text (metric, rule, check, file, plan) carries markup."""
    card = _card(METRICS)
    card["generated_at"] = EVIL
    card["plan"] = EVIL
    row = _row(card, "reject_rate")
    row.update(label=EVIL, detail=EVIL, source=EVIL)
    rule = card["top_failing_rules"][0]
    rule.update(rule_id=EVIL, description=EVIL, family=EVIL)
    rule["examples"][0].update(claim_id=EVIL, file=EVIL)
    card["checks"][0]["summary"] = EVIL
    card["files"][0]["file"] = EVIL
    return card


def test_pages_escape_metric_rule_and_plan_text():
    """Autoescape: text from the catalog, metrics or config shows as text and never runs."""
    card = _evil_card()
    pages = {
        "scorecard": scorecard_html(card),
        "month index": index_html("2026-09", [card], ["2026-09"], href_prefix="../"),
        "latest index": latest_index_html([card], ["2026-09"]),
    }
    for name, page in pages.items():
        assert "<script" not in page.lower() and "<img" not in page.lower(), name
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page, name  # shown as text
        assert CSP_META in page, name
    scorecard = pages["scorecard"]
    # Rule ids reach the failing-rules chart too; charts.py escapes them itself (not twice).
    assert 'data-chart="failing_rules"' in scorecard
    assert "&amp;lt;script" not in scorecard
    assert scorecard.count("&lt;script&gt;") >= 10


def _write_card(paths: DataPaths, plan: str, month: str) -> None:
    metrics = copy.deepcopy(METRICS)
    metrics.update(plan=plan, month=month)
    card = _card(metrics)
    card["generated_at"] = "2026-10-01 00:00 UTC"
    out = paths.scorecards / plan / month
    out.mkdir(parents=True)
    (out / "scorecard.json").write_text(json.dumps(card), encoding="utf-8")
    (out / "scorecard.html").write_text(scorecard_html(card), encoding="utf-8")


def _links(page: Path) -> list[Path]:
    hrefs = re.findall(r'href="([^"]+)"', page.read_text(encoding="utf-8"))
    return [(page.parent / h).resolve() for h in hrefs]


def test_top_index_shows_each_plans_own_latest_month(tmp_path: Path):
    """HPSM stopped in August, CHG went on to September: both show, each with its own month."""
    paths = DataPaths(tmp_path)
    for plan, months in {
        "CHG": ("2026-07", "2026-08", "2026-09"),
        "HPSM": ("2026-07", "2026-08"),
    }.items():
        for month in months:
            _write_card(paths, plan, month)
    top = build_index(paths)
    assert top == paths.scorecards / "index.html"
    page = top.read_text(encoding="utf-8")
    rows = {
        plan: row
        for row in re.findall(r"<tr>.*?</tr>", page, re.S)
        if (plan := next(iter(re.findall(r"<strong>(\w+)</strong>", row)), None))
    }
    assert set(rows) == {"CHG", "HPSM"}
    assert 'href="CHG/2026-09/scorecard.html"' in rows["CHG"]
    assert 'href="2026-09/index.html">2026-09</a>' in rows["CHG"]
    assert "behind" not in rows["CHG"]
    assert 'href="HPSM/2026-08/scorecard.html"' in rows["HPSM"]
    assert 'href="2026-08/index.html">2026-08</a>' in rows["HPSM"]
    assert '<div class="muted behind">no 2026-09 scorecard</div>' in rows["HPSM"]
    # Every month's page is one click from the top, and every link of every page resolves.
    for month in ("2026-07", "2026-08", "2026-09"):
        assert f'href="{month}/index.html"' in page
    pages = list(paths.scorecards.rglob("*.html"))
    assert len(pages) == 1 + 3 + 5  # top, three months, five plan-months
    for html in pages:
        for target in _links(html):
            assert target.is_file(), f"{html.relative_to(tmp_path)} links to missing {target}"
    september = (paths.scorecards / "2026-09" / "index.html").read_text(encoding="utf-8")
    assert "CHG" in september and "HPSM" not in september
