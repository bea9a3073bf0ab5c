"""The Dagster UI as its users see it, in a real browser (Playwright driving Debian's chromium,
headless, loopback only).

One plan-month whose data fails the blocking `reject_rate` check is run the README's way
(`calaim run`, in-process, recording into <data root>/dagster_home). Then `make ui` (webserver +
daemon) and `make ui-readonly` (the compliance reviewers' webserver) serve that instance: the run is
there, the landing sensor and the schedule are there and the sensor leaves the judged month alone,
and the check's partition page, reached by clicking the path docs/compliance.md documents, shows
the failure with its explanation.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.parse

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from calaim_pipeline.lake import read_metrics
from calaim_pipeline.plan_month_checks import evaluate_all
from calaim_pipeline.sample import generate_sample
from calaim_pipeline.settings import DataPaths, load_thresholds
from calaim_pipeline_tests.ops_support import (
    SENSOR_IDLE,
    chromium_path,
    dagster_env,
    free_port,
    graphql,
    output_dir,
    running,
    start_process,
    venv_command,
    wait_for,
    wait_for_webserver,
)
from calaim_pipeline_tests.test_docs_users import documented_check_path

PLAN, MONTH = "CHG", "2026-09"
PARTITION = f"{MONTH}|{PLAN}"  # Dagster's key: dimensions in name order (month, plan)
CHECK = "reject_rate"

RUNS_QUERY = """
query ($partition: String!) {
  runsOrError(filter: {tags: [{key: "dagster/partition", value: $partition}]}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}"""

AUTOMATION_QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name location { name }
    sensors { name sensorState { status } }
    schedules { name scheduleState { status } }
} } } }"""

PERMISSIONS_QUERY = "{ permissions { permission value } }"

LAUNCH_MUTATION = """
mutation ($location: String!, $repository: String!, $partition: String!) {
  launchRun(executionParams: {
    selector: {repositoryLocationName: $location, repositoryName: $repository,
               jobName: "plan_month_job"},
    executionMetadata: {tags: [{key: "dagster/partition", value: $partition}]}
  }) { __typename }
}"""


def _runs(base_url: str) -> list[dict]:
    return graphql(base_url, RUNS_QUERY, {"partition": PARTITION})["runsOrError"]["results"]


def _tags(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


def _click(page: Page, label: str, timeout: float = 30.0) -> None:
    """Click what a person would for `label`: the last visible tab of that name (the innermost
    panel's, e.g. the check's own Partitions tab, not the asset's), else the first visible link,
    button or text of that name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for role in ("tab", "link", "button"):
            found = page.get_by_role(role, name=label, exact=True)
            visible = [found.nth(i) for i in range(found.count()) if found.nth(i).is_visible()]
            if visible:
                (visible[-1] if role == "tab" else visible[0]).click()
                return
        text = page.get_by_text(label, exact=True)
        visible = [text.nth(i) for i in range(text.count()) if text.nth(i).is_visible()]
        if visible:
            visible[0].click()
            return
        time.sleep(0.5)
    raise AssertionError(f"the documented step {label!r} is not on the page ({page.url})")


def _open_check_partition(page: Page, base_url: str, explanation: str) -> None:
    """From the home page, click exactly the steps docs/compliance.md documents (Catalog →
    encounter_lines → Checks → reject_rate → Partitions → month → plan): a wrong documented path
    fails here."""
    steps = documented_check_path()
    assert (steps[3], steps[5], steps[6]) == (CHECK, MONTH, PLAN), steps
    page.goto(base_url, timeout=60_000)
    for label in steps:
        _click(page, label)
    expect(page).to_have_url(re.compile(rf"checkDetail={CHECK}"), timeout=30_000)
    expect(page.get_by_text(PARTITION, exact=True).first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Failed", exact=True).first).to_be_visible()
    expect(page.get_by_text(explanation, exact=True).first).to_be_visible()


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_failing_check_and_its_explanation_are_shown_in_the_ui(tmp_path):
    paths = DataPaths(tmp_path / "data")
    generate_sample(paths.root, plan_lines={PLAN: 300}, months=(MONTH,), defect_rate=0.4, seed=1)
    home = paths.root / "dagster_home"  # where `calaim run` and `make ui` put the instance
    env = dagster_env(home, paths.root)
    logs = output_dir("ui")

    # 1. The README's run: in-process, recorded in the local instance; exits 1 (blocking check).
    ran = subprocess.run(
        [venv_command("calaim"), "run", "--plan", PLAN, "--month", MONTH],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert ran.returncode == 1 and f"FAILED {CHECK}" in ran.stdout, ran.stdout + ran.stderr
    outcome = next(
        o
        for o in evaluate_all(read_metrics(paths.lake, PLAN, MONTH), load_thresholds())
        if o.name == CHECK
    )
    assert not outcome.passed and outcome.severity == "ERROR"
    explanation = outcome.summary  # e.g. "89 of 300 lines rejected (29.67%; limit 10.00%)"

    ui_url = f"http://127.0.0.1:{free_port()}"
    ro_url = f"http://127.0.0.1:{free_port()}"
    procs = []
    with running(procs):
        for target, url in (("ui", ui_url), ("ui-readonly", ro_url)):
            port = urllib.parse.urlsplit(url).port
            procs.append(
                start_process(
                    f"make-{target}",
                    ["make", "--no-print-directory", target, f"DATA={paths.root}", f"PORT={port}"],
                    env,
                    logs,
                )
            )
        wait_for_webserver(ui_url, procs, timeout=180)
        wait_for_webserver(ro_url, procs, timeout=180)

        # 2. The run `calaim run` recorded is in the UI's instance.
        in_process = [r for r in _runs(ui_url) if "dagster/sensor_name" not in _tags(r)]
        assert [r["status"] for r in in_process] == ["FAILURE"], in_process

        # 3. Schedule and sensor are there; the daemon runs the sensor, which leaves the month
        # alone: its landed files did not change since `calaim run` judged it.
        repos = graphql(ui_url, AUTOMATION_QUERY)["repositoriesOrError"]["nodes"]
        assert len(repos) == 1
        repo = repos[0]
        assert {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]} == {
            "landing_sensor": "RUNNING",
            "scorecard_index_automation": "RUNNING",
            "dhcs_response_sensor": "RUNNING",
        }
        assert [s["name"] for s in repo["schedules"]] == ["monthly_all_plans"]

        # The daemon's sensor sees the month already judged on these very files: no run.
        def idle_sensor_tick() -> bool:
            log = procs[0].tail(400000)
            return any(text in log for text in SENSOR_IDLE)

        wait_for("an idle landing_sensor tick", idle_sensor_tick, 200, 2.0, procs)
        assert [r for r in _runs(ui_url) if _tags(r).get("dagster/sensor_name")] == []

        # 4. Read-only: reviewers see everything but cannot launch anything.
        def permissions(url: str) -> dict[str, bool]:
            rows = graphql(url, PERMISSIONS_QUERY)["permissions"]
            return {p["permission"]: p["value"] for p in rows}

        assert permissions(ui_url)["launch_pipeline_execution"] is True
        read_only = permissions(ro_url)
        assert read_only["launch_pipeline_execution"] is False
        assert read_only["launch_partition_backfill"] is False
        assert read_only["edit_sensor"] is False
        refused = graphql(
            ro_url,
            LAUNCH_MUTATION,
            {
                "location": repo["location"]["name"],
                "repository": repo["name"],
                "partition": PARTITION,
            },
        )
        assert refused["launchRun"]["__typename"] == "UnauthorizedError"
        assert len(_runs(ro_url)) == len(in_process)

        # 5. In the browser: the failing check and its explanation on the partition's check page.
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
            )
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1100})
                page.set_default_timeout(30_000)
                shots = {}
                for name, url in (("ui", ui_url), ("ui-readonly", ro_url)):
                    _open_check_partition(page, url, explanation)
                    shots[name] = logs / f"{name}-{CHECK}-{MONTH}-{PLAN}.png"
                    page.screenshot(path=str(shots[name]), full_page=True)
                    # Reviewers see the "Materialize" action greyed out; operators can use it.
                    materialize = page.get_by_role(
                        "button", name=re.compile(r"Materialize…$")
                    ).first
                    if name == "ui-readonly":
                        expect(materialize).to_be_disabled()
                    else:
                        expect(materialize).to_be_enabled()
            finally:
                browser.close()
    for shot in shots.values():
        assert shot.stat().st_size > 10_000
    print("screenshots:", ", ".join(str(s) for s in shots.values()))
