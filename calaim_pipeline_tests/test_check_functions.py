"""Direct tests of the plan-month checks and of the check catalog that defines them.

Fast: each check is called on a hand-made month record (records.py), no run and no Dagster.
The catalog (catalog/checks.yaml) is the one place a check's severity and thresholds live: these
tests tie the decision functions, the asset checks, the scorecard and the docs to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from calaim_pipeline.catalog import CatalogError
from calaim_pipeline.catalog.checks import CHECKS_PATH, load_checks_at, plan_month_checks
from calaim_pipeline.plan_month_checks import DECIDERS, PLAN_MONTH_CHECKS, evaluate_all
from calaim_pipeline.scorecard.catalog import CATALOG_PATH, load_catalog, load_catalog_at
from calaim_pipeline.scorecard.compute import compute_scorecard
from calaim_pipeline.settings import ConfigError, load_thresholds
from calaim_pipeline_tests.records import make_record, record_dict

pytestmark = pytest.mark.fast

THRESHOLDS = load_thresholds()


def verdicts(**overrides: Any) -> dict[str, bool]:
    return {o.name: o.passed for o in evaluate_all(make_record(**overrides), THRESHOLDS)}


def failing(**overrides: Any) -> set[str]:
    return {name for name, passed in verdicts(**overrides).items() if not passed}


def test_a_clean_month_passes_every_check() -> None:
    assert failing() == set()


def _file(**changes: Any) -> list[dict]:
    return [{**record_dict()["files"][0], **changes}]


def _roster(**changes: Any) -> dict:
    rosters = record_dict()["rosters"]
    return {**rosters, "members": {**rosters["members"], **changes}}


# One row per check: the record change that must make it fail, and only it.
BREACHES: dict[str, dict[str, Any]] = {
    "rows_reconcile": {"files": _file(reconciles=False)},
    "rosters_reconcile": {"rosters": _roster(reconciles=False)},
    "reject_rate": {"reject_rate": 0.25},
    "field_completeness": {
        "completeness": {"claim_id": {"applicable": 100, "filled": 80, "rate": 0.8}}
    },
    "validity_rate_per_family": {
        "family_validity": {
            **record_dict()["family_validity"],
            "validity": {"rows_failed": 100, "pass_rate": 0.9},
        }
    },
    "volume": {"volume_history": [{"month": "2026-08", "rows_read": 5000}]},
    "utilisation": {
        "utilisation": {
            "enrolled_members": 300,
            "claims_accepted": 9000,
            "encounters_per_member_month": 30.0,
        }
    },
    "timeliness": {"timeliness": {**record_dict()["timeliness"], "paid_within_share": 0.5}},
    "duplicates": {"duplicates": {"rows": 50, "rate": 0.05}},
    "ecm_cs_coding": {"ecm_cs": {"lines": 100, "invalid": 10, "valid_share": 0.9}},
}


@pytest.mark.parametrize("name", sorted(BREACHES))
def test_each_check_fails_on_its_breach_and_only_it(name: str) -> None:
    assert failing(**BREACHES[name]) == {name}


def test_files_readable_reports_unparseable_rows_without_failing() -> None:
    """Unparseable rows are quarantined with ROW_UNPARSEABLE; a file without its required
    columns fails the partition before any record exists, so the check only reports."""
    outcome = {
        o.name: o
        for o in evaluate_all(make_record(files=_file(unparseable=3), unparseable=3), THRESHOLDS)
    }["files_readable"]
    assert outcome.passed and "3 unparseable row(s) quarantined" in outcome.summary


def test_every_check_is_under_test_here() -> None:
    assert set(BREACHES) | {"files_readable"} == {c.name for c in plan_month_checks()}


def test_the_volume_band_is_read_from_the_limit_the_catalog_names() -> None:
    """At the band's edge the month passes; just past it, it fails."""
    band = THRESHOLDS.checks.value("volume_band")
    edge = round(1000 / (1 + band))  # this month's 1,000 lines are +band against this mean
    assert verdicts(volume_history=[{"month": "2026-08", "rows_read": edge + 1}])["volume"]
    assert not verdicts(volume_history=[{"month": "2026-08", "rows_read": edge - 5}])["volume"]


def test_outcomes_carry_the_catalog_severity_and_the_threshold_source() -> None:
    outcome = {o.name: o for o in evaluate_all(make_record(reject_rate=0.25), THRESHOLDS)}
    reject = outcome["reject_rate"]
    assert reject.severity == "ERROR"
    assert reject.metadata["threshold"] == THRESHOLDS.checks.value("reject_rate_max")
    assert reject.metadata["threshold_source"] == THRESHOLDS.checks.reject_rate_max.source
    assert reject.metadata["top_rules"][0]["examples"] == [
        {"claim_id": "CHG-1", "file": "encounters.csv", "line": 7}
    ]


def test_every_catalog_check_has_one_decision_function() -> None:
    assert set(DECIDERS) == {c.name for c in plan_month_checks()}
    assert [c.name for c in PLAN_MONTH_CHECKS] == [c.name for c in plan_month_checks()]


def test_a_check_limit_naming_no_threshold_fails_loading(tmp_path: Path) -> None:
    text = CHECKS_PATH.read_text(encoding="utf-8")
    bad = tmp_path / "checks.yaml"
    bad.write_text(text.replace("{max: reject_rate_max}", "{max: reject_rate_maxx}"), "utf-8")
    with pytest.raises(CatalogError) as raised:
        load_checks_at(bad)
    assert str(raised.value).splitlines() == [
        f"{bad}: invalid check catalog",
        "  checks.3(reject_rate).limit: 'reject_rate_maxx' is not a key of thresholds.yaml checks",
    ]


def test_a_misspelt_severity_fails_loading_naming_the_check(tmp_path: Path) -> None:
    text = CHECKS_PATH.read_text(encoding="utf-8")
    bad = tmp_path / "checks.yaml"
    bad.write_text(text.replace("severity: WARN", "severity: WARNING", 1), "utf-8")
    with pytest.raises(CatalogError, match=r"checks\.4\(field_completeness\)\.severity"):
        load_checks_at(bad)


def test_scorecard_metrics_take_status_and_threshold_from_their_check() -> None:
    catalog = load_catalog()
    checks = {c.name: c for c in plan_month_checks()}
    graded = [m for m in catalog.metrics if m.check]
    assert {m.check for m in graded} == set(checks) - {"files_readable"}
    for metric in graded:
        check = checks[metric.check]
        assert metric.on_breach == ("fail" if check.severity == "ERROR" else "warn"), metric.id
        refs = {t.ref for t in (metric.threshold, metric.threshold_high) if t and t.ref}
        assert refs == {f"checks.{key}" for key in (check.limit.keys if check.limit else ())}


def test_a_scorecard_metric_restating_its_checks_severity_fails_loading(tmp_path: Path) -> None:
    text = CATALOG_PATH.read_text(encoding="utf-8")
    bad = tmp_path / "catalog.yaml"
    bad.write_text(
        text.replace("check: reject_rate\n", "check: reject_rate\n    on_breach: warn\n")
    )
    with pytest.raises(ConfigError, match=r"metrics\.reject_rate: \['on_breach'\] restate"):
        load_catalog_at(bad)


def test_a_scorecard_fails_exactly_where_a_blocking_check_fails() -> None:
    """The scorecard's fail statuses and the ERROR checks agree on every breach above."""
    for name, change in BREACHES.items():
        card = compute_scorecard(make_record(**change), [], load_catalog(), THRESHOLDS)
        failed_checks = {c["check"] for c in card["checks"] if not c["passed"]}
        assert failed_checks == {name}
        blocking = next(c for c in card["checks"] if c["check"] == name)["severity"] == "ERROR"
        assert (card["status"] == "fail") == blocking, name
