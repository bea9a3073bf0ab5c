"""The DHCS-outcome checks in the UI: a month run through the whole cycle (`calaim run
--simulate-dhcs`: built, marked sent as a simulated review, answered by the simulator, ingested by
the dhcs_responses job) shows its failing `dhcs_acceptance_rate` check on the partition's page, with
its explanation; the screenshot is kept in test-output/ui-dhcs/."""

from __future__ import annotations

import re
import subprocess
import urllib.parse

import pytest
from playwright.sync_api import expect, sync_playwright

from calaim_pipeline.responses.checks import evaluate, read_answers
from calaim_pipeline.sample import generate_sample
from calaim_pipeline.settings import DataPaths, load_thresholds
from calaim_pipeline_tests.ops_support import (
    chromium_path,
    dagster_env,
    free_port,
    output_dir,
    running,
    start_process,
    venv_command,
    wait_for_webserver,
)
from calaim_pipeline_tests.test_ops_ui import _click

PLAN, MONTH = "HPSM", "2026-07"  # the sample cycle's DHCS incident: 12% of claims rejected
CHECK = "dhcs_acceptance_rate"
PARTITION = f"{MONTH}|{PLAN}"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_failing_acceptance_check_is_shown_in_the_ui(tmp_path):
    paths = DataPaths(tmp_path / "data")
    generate_sample(paths.root, plan_lines={PLAN: 1500}, months=(MONTH,), seed=3)
    env = dagster_env(paths.root / "dagster_home", paths.root)
    logs = output_dir("ui-dhcs")
    ran = subprocess.run(
        [venv_command("calaim"), "run", "--plan", PLAN, "--month", MONTH, "--simulate-dhcs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"failing: {CHECK}" in ran.stdout and "SIMULATED" in ran.stdout
    outcome = next(
        o
        for o in evaluate(read_answers(paths.lake, PLAN, MONTH), load_thresholds())
        if o.name == CHECK
    )
    assert not outcome.passed

    url = f"http://127.0.0.1:{free_port()}"
    procs = []
    with running(procs):
        port = urllib.parse.urlsplit(url).port
        procs.append(
            start_process(
                "make-ui",
                ["make", "--no-print-directory", "ui", f"DATA={paths.root}", f"PORT={port}"],
                env,
                logs,
            )
        )
        wait_for_webserver(url, procs, timeout=180)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
            )
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1100})
                page.set_default_timeout(30_000)
                page.goto(url, timeout=60_000)
                for label in ("Catalog", "dhcs_responses", "Checks", CHECK, "Partitions"):
                    _click(page, label)
                _click(page, MONTH)
                _click(page, PLAN)
                expect(page).to_have_url(re.compile(rf"checkDetail={CHECK}"), timeout=30_000)
                expect(page.get_by_text("Failed", exact=True).first).to_be_visible()
                expect(page.get_by_text(outcome.summary, exact=False).first).to_be_visible()
                shot = logs / f"{CHECK}-{MONTH}-{PLAN}.png"
                page.screenshot(path=str(shot), full_page=True)
            finally:
                browser.close()
    assert shot.stat().st_size > 10_000
    print("screenshot:", shot)
