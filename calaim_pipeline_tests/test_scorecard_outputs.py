"""Scorecards built from real Dagster runs of generated data: truth, no member data, offline browser.

One module fixture generates a small sample (known defect rates), runs the plan-months through the
real plan_month_job, builds every scorecard and the index; the tests read what it wrote.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from calaim_pipeline.catalog import FAMILIES, line_rules, load_rules
from calaim_pipeline.sample import generate_sample
from calaim_pipeline.scorecard import build_all
from calaim_pipeline.settings import DataPaths
from calaim_pipeline_tests.conftest import OUTPUT_DIR, run_partition
from calaim_pipeline_tests.profiled import read_roster

CLEAN_ISH = {"CHG": 400}  # 5% defective claims: passes the 10% reject limit
BROKEN = {"HPSM": 300}  # 40% defective claims: fails the reject-rate check (blocking)
MONTHS = ("2026-07", "2026-08", "2026-09")
SCREENSHOTS = OUTPUT_DIR / "scorecards"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("scorecards") / "data"
    root.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CALAIM_DATA_DIR", str(root))
        summary = generate_sample(
            root, plan_lines=CLEAN_ISH, months=MONTHS, defect_rate=0.05, seed=5
        )
        summary |= generate_sample(
            root, plan_lines=BROKEN, months=MONTHS[-1:], defect_rate=0.4, seed=9
        )
        home = tmp_path_factory.mktemp("dagster_home")
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            results = {}
            for month in MONTHS:
                results[("CHG", month)] = run_partition(instance, "CHG", month)
            results[("HPSM", MONTHS[-1])] = run_partition(instance, "HPSM", MONTHS[-1])
            materialized = {
                (e.asset_key.to_user_string(), str(e.partition))
                for r in results.values()
                for e in r.get_asset_materialization_events()
            }
        paths = DataPaths(root)
        started = time.perf_counter()
        cards = build_all(paths)
        seconds = time.perf_counter() - started
    return {"root": root, "paths": paths, "summary": summary, "results": results,
            "materialized": materialized, "cards": {(c.plan, c.month): c for c in cards},
            "seconds": seconds}  # fmt: skip


def _truth(root: Path, plan: str, month: str) -> list[dict]:
    with (root / "truth" / plan / month / "truth.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _rules_of(row: dict) -> set[str]:
    return {r for r in f"{row['reject_rules']}|{row['warn_rules']}".split("|") if r}


def test_dagster_builds_the_scorecard_after_validation(built):
    for month in MONTHS:
        assert built["results"][("CHG", month)].success
        key = str(dg.MultiPartitionKey({"plan": "CHG", "month": month}))
        assert ("dq_scorecard", key) in built["materialized"]
    # The broken month fails its blocking check, which holds back only the submission: the
    # scorecard is built in the same run, since a failing month is when compliance needs it.
    assert not built["results"][("HPSM", MONTHS[-1])].success
    broken = str(dg.MultiPartitionKey({"plan": "HPSM", "month": MONTHS[-1]}))
    assert ("dq_scorecard", broken) in built["materialized"]
    assert ("submission", broken) not in built["materialized"]
    card = built["cards"][("HPSM", MONTHS[-1])].card
    assert card["status"] == "fail" and not card["fit_to_send"]
    con = duckdb.connect(str(built["paths"].warehouse), read_only=True)
    plans = con.execute("SELECT DISTINCT plan_code FROM dq_scorecard ORDER BY 1").fetchall()
    assert plans == [("CHG",), ("HPSM",)]
    assert built["seconds"] < 10


@pytest.mark.parametrize("plan_month", [("CHG", m) for m in MONTHS] + [("HPSM", MONTHS[-1])])
def test_scorecard_metrics_equal_what_the_truth_file_implies(built, plan_month):
    plan, month = plan_month
    lines = built["summary"][f"{plan}/{month}"]["lines"]
    truth = _truth(built["root"], plan, month)
    card = built["cards"][plan_month].card
    metric = {r["metric_id"]: r for r in card["metrics"]}
    approx = lambda x: pytest.approx(x, abs=1e-6)  # noqa: E731 - metrics.json keeps 6 decimals

    rejected = sum(1 for row in truth if row["outcome"] == "rejected")
    assert card["totals"]["rows_read"] == lines and card["totals"]["rejected"] == rejected
    assert metric["reject_rate"]["value"] == approx(rejected / lines)
    assert metric["reject_rate"]["status"] == ("pass" if rejected / lines <= 0.10 else "fail")
    per_rule: dict[str, int] = {}
    for row in truth:
        for rule_id in _rules_of(row):
            per_rule[rule_id] = per_rule.get(rule_id, 0) + 1
    for rule in line_rules():  # roster rules count roster rows, not lines
        count = per_rule.get(rule.id, 0)
        assert metric[f"rule.{rule.id}"]["value"] == approx(count / lines), rule.id
        assert metric[f"rule.{rule.id}"]["detail"].startswith(f"{count} row(s)"), rule.id
    top = {r["rule_id"]: r["rows"] for r in card["top_failing_rules"]}
    assert top == {k: per_rule[k] for k in top} and len(top) == min(10, len(per_rule))
    duplicates = per_rule.get("DUPLICATE_LINE_IN_MONTH", 0)
    assert metric["duplicate_rate"]["value"] == approx(duplicates / lines)
    family = {r.id: r.family for r in load_rules()}
    for fam in FAMILIES:
        failed = sum(
            1 for row in truth
            if any(family[r] == fam for r in _rules_of(row) if r != "CLAIM_HAS_REJECTED_LINE")
        )  # fmt: skip
        assert metric[f"family_pass.{fam}"]["value"] == approx(1 - failed / lines), fam
    # Lines missing a required field fail completeness; every other line is complete. The
    # per-column metrics drop below 1 only where a defect emptied a column they measure: a required
    # field (REQ_FIELD_MISSING) or a correction's original_claim_id (ORIGINAL_CLAIM_MISSING).
    incomplete = sum(
        1 for row in truth if any(family[r] == "completeness" for r in _rules_of(row))
    )  # fmt: skip
    assert metric["family_pass.completeness"]["value"] == approx(1 - incomplete / lines)
    emptied = per_rule.get("REQ_FIELD_MISSING", 0) + per_rule.get("ORIGINAL_CLAIM_MISSING", 0)
    fields = [r for r in card["metrics"] if r["metric_id"].startswith("completeness.")]
    assert fields and (emptied == 0) == all(r["value"] in (1.0, None) for r in fields)
    # Examples are claim ids with their file line, and the truth agrees that line carries the rule.
    by_line = {(row["source_file"], int(row["source_row"])): row for row in truth}
    for rule in card["top_failing_rules"]:
        for example in rule["examples"]:
            assert rule["rule_id"] in _rules_of(by_line[(example["file"], example["line"])])


def _member_values(root: Path) -> set[str]:
    values = set()
    for path in (root / "landing").glob("*/*/members.csv"):
        for row in read_roster(path):  # through the plan's ingest profile (HPSM's own shape)
            for column in (
                "member_cin",
                "first_name",
                "last_name",
                "birth_date",
                "birth_date_iso",
                "address_line_1",
            ):
                if row.get(column):
                    values.add(row[column])
    return values


def test_scorecards_and_index_contain_no_member_data(built):
    values = _member_values(built["root"])
    assert len(values) > 100
    pattern = re.compile(
        r"(?<![A-Za-z0-9])(" + "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)) + r")(?![A-Za-z0-9])"
    )  # fmt: skip
    files = [p for p in built["paths"].scorecards.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"scorecard.html", "scorecard.json", "index.html"}
    for path in files:
        found = pattern.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path}: member data {sorted(set(found))[:5]}"
    con = duckdb.connect()
    table = built["paths"].lake / "dq_scorecard"
    text = json.dumps(
        con.execute(f"SELECT * FROM read_parquet('{table}/*/*/data.parquet')").fetchall()
    )
    assert not pattern.findall(text)


def test_top_index_lists_each_plan_and_every_link_resolves(built):
    """scorecards/index.html: each plan with its own latest month; no page links a missing file."""
    scorecards = built["paths"].scorecards
    top = (scorecards / "index.html").read_text(encoding="utf-8")
    for plan in ("CHG", "HPSM"):
        assert f'href="{plan}/{MONTHS[-1]}/scorecard.html"' in top
    for month in MONTHS:
        assert f'href="{month}/index.html"' in top
    for page in scorecards.rglob("*.html"):
        for href in re.findall(r'href="([^"]+)"', page.read_text(encoding="utf-8")):
            assert (page.parent / href).is_file(), f"{page}: {href}"


def _open_offline(browser, path: Path, shot: Path, requests: list[str]) -> dict:
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})

    def route(r):
        requests.append(r.request.url)
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(path.as_uri())
    charts = page.eval_on_selector_all(
        "svg.chart",
        """svgs => svgs.map(s => ({
             id: s.dataset.chart,
             marks: [...s.querySelectorAll('.mark')].filter(m => {
               const b = m.getBBox(); return b.width > 0 || b.height > 0; }).length,
             box: s.getBoundingClientRect().width * s.getBoundingClientRect().height }))""",
    )
    status = page.locator("#status, #plans").first
    info = {
        "charts": charts,
        "status_visible": status.is_visible(),
        "text": page.inner_text("body"),
    }
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    context.close()
    return info


def test_scorecard_and_index_render_offline_in_chromium(built):
    from playwright import sync_api as playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "chromium missing: scripts/system-deps.sh installs it"
    scorecards = built["paths"].scorecards
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--host-resolver-rules=MAP * ~NOTFOUND", "--no-proxy-server", "--no-sandbox"],
        )
        try:
            good = _open_offline(browser, scorecards / "CHG" / MONTHS[-1] / "scorecard.html",
                                 SCREENSHOTS / "scorecard-CHG.png", requests)  # fmt: skip
            bad = _open_offline(browser, scorecards / "HPSM" / MONTHS[-1] / "scorecard.html",
                                SCREENSHOTS / "scorecard-HPSM-fail.png", requests)  # fmt: skip
            index = _open_offline(
                browser, scorecards / "index.html", SCREENSHOTS / "index.png", requests
            )
        finally:
            browser.close()
    assert requests and all(url.startswith("file://") for url in requests), requests
    for info in (good, bad):
        assert {c["id"] for c in info["charts"]} == {
            "volume",
            "reject_rate",
            "timeliness",
            "failing_rules",
        }
        assert all(c["marks"] > 0 and c["box"] > 0 for c in info["charts"]), info["charts"]
        assert info["status_visible"]
    assert "PASS" in good["text"] or "WARN" in good["text"]
    assert "FAIL" in bad["text"] and "Not fit to send" in bad["text"]
    assert {c["id"] for c in index["charts"]} == {"scores", "reject_rates"}
    assert all(c["marks"] > 0 for c in index["charts"]) and index["status_visible"]
    assert "CHG" in index["text"] and "HPSM" in index["text"]
    assert (SCREENSHOTS / "index.png").stat().st_size > 10_000
