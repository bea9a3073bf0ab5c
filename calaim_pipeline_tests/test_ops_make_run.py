"""A new team's first hour (issue 11): `make run` on a fresh data root generates the bundled sample,
runs all 12 plan-months, shows the failing month with its reason and ends with next steps, exits 0
(the failing month is the demo's expected outcome); the scorecard index shows that month; every
example query of the guides returns rows on the full warehouse; `calaim run` alone exits 1 for the
failing month, for schedulers."""

from __future__ import annotations

import re
import subprocess

import duckdb
import pytest

from calaim_pipeline_tests.conftest import PROJECT_DIR
from calaim_pipeline_tests.ops_support import dagster_env, output_dir, venv_command
from calaim_pipeline_tests.test_docs_tables import USER_DOCS, doc_queries
from calaim_pipeline_tests.test_ops_phi import phi_in, roster_phi

NOISE = ("Traceback", "Stack Trace", " - ERROR - ", "STEP_FAILURE")


def _row(out: str, plan: str, month: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(f"{plan:<8} {month:<8}"))


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_make_run_on_a_fresh_data_root(tmp_path):
    data = tmp_path / "data"
    env = dagster_env(data / "dagster_home", data)
    ran = subprocess.run(
        ["make", "--no-print-directory", "run", f"DATA={data}"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=1400,
        check=False,
    )
    (output_dir("make-run") / "stdout.txt").write_text(ran.stdout + "\n--- stderr\n" + ran.stderr)
    out = ran.stdout
    assert ran.returncode == 0, out[-3000:] + ran.stderr[-3000:]
    assert not [n for n in NOISE if n in out + ran.stderr]
    # No member CIN or birth date in what it prints (names are left out: sample names such as
    # "Mark" are also ordinary words of the output).
    phi = {k: v for k, v in roster_phi(data / "landing").items() if k != "name"}
    printed = tmp_path / "printed.txt"
    printed.write_text(out + ran.stderr, encoding="utf-8")
    assert phi_in(printed, phi) == {}

    # Stages as they run, then the verdicts: the failing month with its reason.
    assert re.search(r"\[1/12\] CHG 2026-06: staging \d+\.\ds, judging \d+\.\ds, writing", out)
    failing = _row(out, "CHG", "2026-09")
    assert re.search(r"FAILED reject_rate: \d+ of 2000 lines rejected \(1\d\.\d\d%", failing)
    assert failing.endswith("files held back")
    # The compliance guide quotes that line: it is what `make run` prints.
    guide = (PROJECT_DIR / "docs" / "compliance.md").read_text(encoding="utf-8")
    quoted = [line for line in guide.splitlines() if line.startswith("CHG      2026-09")]
    assert quoted == [failing]
    assert re.search(r"top failing rules: ICD10_NOT_BILLABLE=\d{3}", out)
    warning = _row(out, "CHG", "2026-08")
    assert "  warning " in warning and "duplicates: 25 duplicate line(s) (1.25%" in warning
    # Every other month is ok or warns (warnings never hold files back); only CHG 2026-09 fails.
    others = [
        _row(out, plan, month)
        for plan in ("CHG", "HPSM", "LACARE")
        for month in ("2026-06", "2026-07", "2026-08", "2026-09")
        if (plan, month) != ("CHG", "2026-09")
    ]
    assert all(re.search(r"  (ok: |warning ).*files built", row) for row in others), others
    assert sum(1 for row in others if "  ok: all checks pass" in row) >= 8
    # HPSM landed in its claims system's shape: the summary names the profile under each month.
    lines = out.splitlines()
    named = [i for i, line in enumerate(lines) if "read through ingest profile hpsm_pipe (" in line]
    assert len(named) == 4 and all(" HPSM " in f" {lines[i - 1]}" for i in named), named

    # It ends with next steps that fit: the failing month, the review, the scorecards, the UI.
    steps = out[out.rindex("Next steps") :]
    assert out.rstrip().splitlines()[-1].startswith("  - ")
    assert "CHG 2026-09 failed reject_rate" in steps
    assert "Catalog → encounter_lines → Checks → reject_rate → Partitions → 2026-09 → CHG" in steps
    assert f"{data / 'landing' / 'CHG' / '2026-09'}/" in steps
    assert "Review the warnings of CHG 2026-08" in steps
    assert 'mark-sent --plan CHG --month 2026-06 --reviewed-by "Your Name"' in steps
    assert "scorecards/index.html" in steps and "make ui" in steps

    # The scorecard index shows CHG's latest month failing.
    index = (data / "scorecards" / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r"<tr\b.*?</tr>", index, flags=re.S)
    chg = [r for r in rows if re.search(r">\s*CHG\s*<", r)]
    assert chg and "2026-09" in chg[0] and "FAIL" in chg[0]

    # Every example query of the guides returns rows on the full bundled warehouse.
    con = duckdb.connect(str(data / "warehouse" / "calaim.duckdb"), read_only=True)
    try:
        empty = [
            (name, sql)
            for name in USER_DOCS
            for sql in doc_queries(name)
            if not con.sql(sql).fetchall()
        ]
    finally:
        con.close()
    assert empty == []

    # `calaim run` on its own: a failed blocking check is exit 1, for schedulers.
    alone = subprocess.run(
        [venv_command("calaim"), "run", "--month", "2026-09", "--plan", "CHG"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert alone.returncode == 1, alone.stdout + alone.stderr
    assert "FAILED reject_rate" in alone.stdout and alone.stderr == ""
