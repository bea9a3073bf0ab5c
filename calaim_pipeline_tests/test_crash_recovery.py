"""kill -9 of a real `calaim run` at several points, then a normal run: every leftover is cleaned,
no member data sits outside the lake, the 837 files and the landed rosters, no run stays STARTED,
and the warehouse, lake, manifests and 837 contents equal those of the same runs never interrupted
(control numbers, file names and timestamps aside).

Faults are injected without test hooks in the product: each killed run is `calaim` started through
a small wrapper script that replaces one domain function with one that SIGKILLs its own process on
its Nth matching call, then calls `calaim_pipeline.cli.main`. After every kill the test checks the
debris the kill was meant to leave is there, and that the ledger names only files that exist.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from calaim_pipeline.sample import generate_sample
from calaim_pipeline.settings import DataPaths
from calaim_pipeline.submission import commit
from calaim_pipeline_tests.conftest import PROJECT_DIR
from calaim_pipeline_tests.test_ops_phi import TOKEN

PLAN, MONTHS = "CHG", ("2026-08", "2026-09")
KILLER = """
import importlib, json, os, signal, sys


def install(spec):
    module = importlib.import_module(spec["module"])
    original = getattr(module, spec["name"])
    seen = 0

    def replacement(*args, **kwargs):
        nonlocal seen
        if spec["match"] not in repr((args, kwargs)):
            return original(*args, **kwargs)
        seen += 1
        if seen == spec["nth"] and spec["when"] == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if seen == spec["nth"] and spec["when"] == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(module, spec["name"], replacement)


# Guarded: the 837 writer's spawned workers import this file as their main module.
if __name__ == "__main__":
    install(json.loads(sys.argv[1]))
    from calaim_pipeline.cli import main

    sys.exit(main(sys.argv[2:]))
"""
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
TEMP_NAME = re.compile(r"^(tmp_)?\.tmp-|^prev\.parquet$|^\.build-intent\.json$|^\.manifest\.prev")


def _env(root: Path) -> dict[str, str]:
    env = {**os.environ, "CALAIM_DATA_DIR": str(root), "DAGSTER_HOME": str(root / "dagster_home")}
    env.pop("CALAIM_SHARE_GROUP", None)
    return env


def _calaim(root: Path, args: list[str], kill: dict | None = None, tmp: Path | None = None) -> int:
    if kill is None:
        command = [str(Path(sys.executable).parent / "calaim"), *args]
    else:
        script = tmp / "killer.py"
        script.write_text(KILLER)
        command = [sys.executable, str(script), json.dumps(kill), *args]
    result = subprocess.run(
        command, env=_env(root), cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600
    )
    if kill is not None:
        assert result.returncode == -9, f"not killed at {kill}: {result.stderr[-1500:]}"
    return result.returncode


def _unfinished_runs(root: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(root / "dagster_home")) as instance:
        return list(instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED)))


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _debris(root: Path) -> list[str]:
    paths = DataPaths(root)
    found = [p for p in _files(root) if TEMP_NAME.search(p.name)]
    found += list(paths.work.iterdir()) if paths.work.is_dir() else []
    return sorted(p.relative_to(root).as_posix() for p in found)


def _ledger_names(root: Path, table: str, month: str) -> set[str]:
    path = root / "lake" / table / f"plan_code={PLAN}" / f"extract_month={month}" / "data.parquet"
    if not path.is_file():
        return set()
    return set(pq.read_table(path, columns=["file_name"]).column("file_name").to_pylist())


def _assert_ledger_names_existing_files(root: Path) -> None:
    """The warehouse's submissions and submitted_lines never name a file that does not exist."""
    for month in MONTHS:
        folder = root / "submissions" / PLAN / month
        existing = {p.name for p in folder.glob("*.x12")} if folder.is_dir() else set()
        for table in ("submissions", "submitted_lines"):
            missing = _ledger_names(root, table, month) - existing
            assert not missing, f"{table} {month} names missing files {sorted(missing)}"


def _phi_tokens(path: Path) -> set[str]:
    """Upper-cased tokens of a file; for Parquet, of its values (the bytes are compressed)."""
    if path.suffix == ".parquet":
        try:
            text = json.dumps(pq.read_table(path).to_pylist(), default=str).encode()
        except Exception:  # a partial file: its raw bytes
            text = path.read_bytes()
    else:
        text = path.read_bytes()
    return {t.decode("ascii", "replace").upper() for t in TOKEN.findall(text)}


def _members(landing: Path) -> dict[str, set]:
    """Every roster's CINs and birth dates, and each member's (first, last) name tokens.

    A name counts only as a first *and* last name of one member in the same file: single names
    are also ordinary words of HTML and logs ("White", "Grant"), CINs and birth dates are not."""
    found: dict[str, set] = {"cin": set(), "birth_date": set(), "name": set()}
    for roster in landing.glob("*/*/members.csv"):
        with roster.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                found["cin"].add(row["member_cin"].strip().upper())
                found["birth_date"].add(row["birth_date"].strip())
                first, last = (
                    frozenset(re.findall(r"[A-Z]{2,}", row[c].upper()))
                    for c in ("first_name", "last_name")
                )
                if first and last:
                    found["name"].add((first, last))
    found["cin"].discard("")
    found["birth_date"].discard("")
    return found


def _member_data_kinds(tokens: set[str], members: dict[str, set]) -> list[str]:
    kinds = [kind for kind in ("cin", "birth_date") if members[kind] & tokens]
    if any(first <= tokens and last <= tokens for first, last in members["name"]):
        kinds.append("name")
    return kinds


def _phi_outside_allowed(root: Path, members: dict[str, set]) -> dict[str, list[str]]:
    """File -> kinds of member data found, for files outside the lake, the 837 files and the
    landed rosters (never the values themselves)."""
    found = {}
    for path in _files(root):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(("lake/", "landing/")) or (
            relative.startswith("submissions/") and path.suffix == ".x12"
        ):
            continue
        kinds = _member_data_kinds(_phi_tokens(path), members)
        if kinds:
            found[relative] = kinds
    return found


MASKED_SEGMENTS = ("ISA*", "GS*", "GE*", "IEA*", "BHT*")


def _x12_body(path: Path) -> str:
    """The interchange without its envelope and BHT (control numbers, creation date and time)."""
    segments = path.read_text(encoding="ascii").split("~")
    return "~".join(s for s in segments if not s.strip().startswith(MASKED_SEGMENTS))


VOLATILE = {
    "submissions": "file_name, interchange_control_number, group_control_number, sha256, bytes, "
    "created_at",
    "submitted_lines": "file_name, interchange_control_number",
    "encounter_status": "file_name, interchange_control_number",
    "corrections_worklist": "file_name",
}
VOLATILE_MANIFEST = {"created_at", "build_seconds"}
VOLATILE_MANIFEST_FILE = {
    "file_name",
    "interchange_control_number",
    "group_control_number",
    "sha256",
    "bytes",
}


def _outcome(root: Path) -> dict:
    """What a run leaves, minus what differs between any two runs (control numbers, names, times)."""
    out: dict = {"warehouse": {}, "manifests": {}, "x12": {}, "metrics": {}}
    with duckdb.connect(str(root / "warehouse" / "calaim.duckdb"), read_only=True) as con:
        views = [
            v
            for (v,) in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        ]
        for view in sorted(views):
            exclude = f" EXCLUDE ({VOLATILE[view]})" if view in VOLATILE else ""
            out["warehouse"][view] = con.execute(
                f"SELECT *{exclude} FROM {view} ORDER BY ALL"
            ).fetchall()
    out["lake_files"] = sorted(p.relative_to(root).as_posix() for p in _files(root / "lake"))
    for month in MONTHS:
        folder = root / "submissions" / PLAN / month
        manifest = json.loads((folder / commit.MANIFEST).read_text())
        for entry in manifest["files"]:
            out["x12"][(month, entry["transaction"])] = _x12_body(folder / entry["file_name"])
        manifest["files"] = [
            {k: v for k, v in f.items() if k not in VOLATILE_MANIFEST_FILE}
            for f in manifest["files"]
        ]
        out["manifests"][month] = {k: v for k, v in manifest.items() if k not in VOLATILE_MANIFEST}
        metrics = root / "lake" / "_metrics" / f"plan_code={PLAN}" / f"extract_month={month}"
        out["metrics"][month] = {
            k: v
            for k, v in json.loads((metrics / "metrics.json").read_text()).items()
            if k not in ("timings", "landing_fingerprint")  # times differ between roots
        }
    return out


def _kill(function: str, match: str, nth: int = 1, when: str = "before") -> dict:
    module, name = function.rsplit(".", 1)
    return {"module": module, "name": name, "match": match, "nth": nth, "when": when}


ALL = ["run", "--month", "ALL", "--plan", "ALL"]
ONE = ["run", "--month", MONTHS[1], "--plan", PLAN]
# (what the kill interrupts, the run, where it kills, debris it must leave behind)
SCENARIOS = [
    (
        "first build of 2026-08, after its ledger lines and manifest, before the commit point",
        ALL,
        _kill("calaim_pipeline.lake.write_partition", "'submissions'"),
        ["submissions/CHG/2026-08/.build-intent.json", "work/submission_CHG_2026-08_"],
    ),
    (
        "validation of 2026-08 while publishing its lake partition",
        ALL,
        _kill("calaim_pipeline.lake.publish_file", "", nth=3),
        ["work/CHG_2026-08_"],
    ),
    ("nothing: a complete run", ALL, None, []),
    (
        "rebuild of 2026-09 between its ledger lines and its manifest",
        ONE,
        _kill("calaim_pipeline.lake.write_json_atomic", "manifest.json"),
        [
            "submissions/CHG/2026-09/.build-intent.json",
            "lake/submitted_lines/plan_code=CHG/extract_month=2026-09/prev.parquet",
            "submissions/CHG/2026-09/.manifest.prev.json",
        ],
    ),
    (
        "rebuild of 2026-09 right after the commit point, before the earlier files are removed",
        ONE,
        _kill("calaim_pipeline.lake.write_partition", "'submissions'", when="after"),
        ["submissions/CHG/2026-09/.build-intent.json"],
    ),
    (
        "validation of 2026-09 while writing its metrics under a temporary name",
        ONE,
        _kill("calaim_pipeline.filemodes.secure_file", ".tmp-"),
        ["lake/_metrics/plan_code=CHG/extract_month=2026-09/.tmp-", "work/CHG_2026-09_"],
    ),
    (
        "rebuild of 2026-09 before its 837 files are written",
        ONE,
        _kill("calaim_pipeline.submission.build.write_837", ""),
        ["submissions/CHG/2026-09/.tmp-", "work/submission_CHG_2026-09_"],
    ),
]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_killed_runs_leave_nothing_behind_after_the_next_run(tmp_path):
    sample = tmp_path / "sample"
    generate_sample(sample, plan_lines={PLAN: 300}, months=MONTHS, seed=42)
    phi = _members(sample / "landing")
    assert len(phi["cin"]) > 50 and len(phi["name"]) > 50
    # The search finds member data where it is: a landed roster.
    roster = _phi_tokens(next((sample / "landing").glob("*/*/members.csv")))
    assert _member_data_kinds(roster, phi) == ["cin", "birth_date", "name"]
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    for root in (reference, crashed):
        shutil.copytree(sample / "landing", root / "landing")

    # The uninterrupted history: a first run, then a re-run (the crashed root's last run re-judges
    # August against a ledger that already holds September, as any re-run does).
    assert _calaim(reference, ALL) == 0
    assert _calaim(reference, ALL) == 0

    # A month judged again on the same files keeps its 837 files (gate.py: "unchanged"), so each
    # rebuild of September runs on a corrected extract (its last k lines dropped, k = 1, 2, ...)
    # and the original is restored before the final run.
    extract = next((crashed / "landing" / PLAN / MONTHS[1]).glob("encounters*.csv"))
    original = extract.read_text(encoding="utf-8")
    corrections = 0
    for what, args, kill, expected in SCENARIOS:
        if args is ONE:
            corrections += 1
            lines = original.splitlines(keepends=True)
            extract.write_text("".join(lines[:-corrections]), encoding="utf-8")
        code = _calaim(crashed, args, kill, tmp_path)
        if kill is None:
            assert code == 0, what
            assert _debris(crashed) == [] and _unfinished_runs(crashed) == []
            continue
        debris = _debris(crashed)
        for prefix in expected:
            assert any(d.startswith(prefix) for d in debris), f"{what}: no {prefix} in {debris}"
        assert len(_unfinished_runs(crashed)) == 1, what  # the killed run, left STARTED
        _assert_ledger_names_existing_files(crashed)
        if any(d.startswith("work/") and not d.startswith("work/submission_") for d in debris):
            # Validation's staging debris holds member data: the search below would find it.
            # (A submission build stages no member data since issue 13: the 837 renderer
            # streams from the lake; only DuckDB's spill could, and nothing spills at this size.)
            assert _phi_outside_allowed(crashed, phi), what

    extract.write_text(original, encoding="utf-8")
    assert _calaim(crashed, ALL) == 0
    # As in the reference's second run: August judged again against September's ledger as the
    # restored extract built it (the corrected extracts above had fewer lines).
    assert _calaim(crashed, ALL) == 0

    assert _debris(crashed) == []
    assert _unfinished_runs(crashed) == []
    with dg.DagsterInstance.from_config(str(crashed / "dagster_home")) as instance:
        failed = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        assert len(failed) == sum(1 for s in SCENARIOS if s[2] is not None)
    _assert_ledger_names_existing_files(crashed)
    for month in MONTHS:
        folder = crashed / "submissions" / PLAN / month
        named = {
            f["file_name"] for f in json.loads((folder / commit.MANIFEST).read_text())["files"]
        }
        assert {p.name for p in folder.iterdir()} == named | {commit.MANIFEST}
        assert _ledger_names(crashed, "submissions", month) == named
        assert _ledger_names(crashed, "submitted_lines", month) == named
    leaks = _phi_outside_allowed(crashed, phi)
    assert leaks == {}, f"member data outside the lake, 837 files and rosters: {leaks}"
    assert _phi_outside_allowed(reference, phi) == {}

    expected, actual = _outcome(reference), _outcome(crashed)
    for part in expected:
        assert actual[part] == expected[part], part
