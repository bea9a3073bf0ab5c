"""The code location loads; the schedule and the landing sensor ask for the right partitions."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from calaim_pipeline.definitions import defs
from calaim_pipeline.defs.automation import landing_sensor, monthly_all_plans
from calaim_pipeline.docs_gen import rules_page
from calaim_pipeline.settings import load_plans
from calaim_pipeline_tests.drops import claims, landing, write_csv, write_rosters

PROJECT = Path(__file__).resolve().parent.parent


def test_dagster_definitions_validate():
    env = {**os.environ, "DAGSTER_HOME": ""}
    env.pop("DAGSTER_HOME")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_job_and_checks_are_defined():
    definitions = defs()
    job = definitions.resolve_job_def("plan_month_job")
    assert job.partitions_def is not None
    checks = {key.name for key in definitions.resolve_asset_graph().asset_check_keys}
    assert {"rows_reconcile", "reject_rate", "volume", "utilisation", "ecm_cs_coding"} <= checks


def test_monthly_schedule_requests_last_month_for_every_plan():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 10, 3, 6, 0))
    requests = list(monthly_all_plans(context))
    keys = sorted(str(r.partition_key) for r in requests)
    assert keys == sorted(f"2026-09|{plan}" for plan in load_plans().codes)


def test_landing_sensor_starts_a_run_when_files_land_or_change(data_root):
    folder = landing(data_root.root, "HPSM", "2026-08")
    write_rosters(folder)
    write_csv(folder / "encounters.csv", claims(2))
    (data_root.landing / "NOTAPLAN" / "2026-08").mkdir(parents=True)

    first = landing_sensor(dg.build_sensor_context(cursor=None))
    assert [str(r.partition_key) for r in first.run_requests] == ["2026-08|HPSM"]
    again = landing_sensor(dg.build_sensor_context(cursor=first.cursor))
    assert again.run_requests == []

    write_csv(folder / "encounters.csv", claims(3))  # a corrected extract lands
    os.utime(folder / "encounters.csv", ns=(1, 1))
    changed = landing_sensor(dg.build_sensor_context(cursor=first.cursor))
    assert [str(r.partition_key) for r in changed.run_requests] == ["2026-08|HPSM"]
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key


def test_landing_sensor_leaves_a_month_judged_on_the_same_files_alone(data_root, instance):
    """However the judgement ran (here in-process, as `calaim run` does), the sensor does not run
    the month again until a file's content changes, and never once the month was marked sent."""
    from calaim_pipeline.submission import ledger
    from calaim_pipeline_tests.conftest import run_partition

    folder = landing(data_root.root, "CHG", "2026-09")
    write_rosters(folder)
    write_csv(folder / "encounters.csv", claims(3))
    assert run_partition(instance, "CHG", "2026-09").success

    first = landing_sensor(dg.build_sensor_context(cursor=None))
    assert first.run_requests == []
    for path in folder.iterdir():
        os.utime(path, ns=(2, 2))  # the same files dropped again
    touched = landing_sensor(dg.build_sensor_context(cursor=first.cursor))
    assert touched.run_requests == []

    write_csv(folder / "encounters.csv", claims(4))  # a corrected extract
    changed = landing_sensor(dg.build_sensor_context(cursor=touched.cursor))
    assert [str(r.partition_key) for r in changed.run_requests] == ["2026-09|CHG"]

    assert run_partition(instance, "CHG", "2026-09").success
    ledger.mark_sent(data_root.lake, data_root.submissions, "CHG", "2026-09", "QA lead")
    write_csv(folder / "encounters.csv", claims(5))
    sent = landing_sensor(dg.build_sensor_context(cursor=None))
    assert sent.run_requests == []


_CODE_VERSIONS = """
import json, sys
from pathlib import Path
import calaim_pipeline.gate as gate
if len(sys.argv) > 1:
    gate.CATALOG_DIR = Path(sys.argv[1])
from calaim_pipeline.definitions import defs
graph = defs().resolve_asset_graph()
print(json.dumps({k.to_user_string(): graph.get(k).code_version for k in graph.get_all_asset_keys()}))
"""


def _code_versions(env: dict, catalog: Path | None = None) -> dict[str, str]:
    import json

    args = [sys.executable, "-c", _CODE_VERSIONS] + ([str(catalog)] if catalog else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_changed_threshold_or_rule_changes_the_judged_assets_code_version(tmp_path):
    """The UI marks months judged under older rules: the code version of what a judgement
    produces follows the rule catalog, the thresholds and the plans configuration."""
    import shutil

    from calaim_pipeline.catalog import CATALOG_DIR
    from calaim_pipeline.settings import PACKAGE_DIR

    env = {k: v for k, v in os.environ.items() if k != "CALAIM_CONFIG_DIR"}
    judged = ("encounter_lines", "rule_results", "submission", "dq_scorecard")
    base = _code_versions(env)
    assert len({base[k] for k in judged}) == 1 and base["encounter_lines"]

    config = tmp_path / "config"
    shutil.copytree(PACKAGE_DIR / "config", config)
    thresholds = config / "thresholds.yaml"
    text = thresholds.read_text(encoding="utf-8")
    thresholds.write_text(
        text.replace("reject_rate_max: {value: 0.10", "reject_rate_max: {value: 0.12", 1),
        encoding="utf-8",
    )
    assert thresholds.read_text(encoding="utf-8") != text
    moved = _code_versions({**env, "CALAIM_CONFIG_DIR": str(config)})
    assert all(moved[k] != base[k] for k in judged)

    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, catalog, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    rules = catalog / "rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# a rule changed\n", "utf-8")
    changed = _code_versions(env, catalog)
    assert all(changed[k] != base[k] for k in judged)
    assert changed["members"] == changed["encounter_lines"]


def test_rules_reference_page_is_current():
    """docs/rules.md is generated from the catalog; regenerate it with `make rules-doc`."""
    assert (PROJECT / "docs" / "rules.md").read_text(encoding="utf-8") == rules_page()


def test_asset_checks_follow_the_check_catalog():
    """Each asset check's name, blocking flag and severity come from catalog/checks.yaml."""
    from calaim_pipeline.catalog.checks import plan_month_checks
    from calaim_pipeline.defs.encounters import CHECK_SPECS

    specs = {spec.name: spec for spec in CHECK_SPECS}
    assert set(specs) == {check.name for check in plan_month_checks()}
    for check in plan_month_checks():
        spec = specs[check.name]
        assert spec.blocking == (check.severity == "ERROR"), check.name
        assert spec.metadata["severity"] == check.severity
        assert check.description in spec.description


def test_the_settings_resource_decides_where_a_run_reads_and_writes(
    tmp_path, monkeypatch, instance
):
    """A data root given to the resource wins over CALAIM_DATA_DIR: the run's lake is there."""
    from calaim_pipeline.defs.partitions import plan_month_key
    from calaim_pipeline.defs.resources import PipelineSettings
    from calaim_pipeline.lake import read_metrics

    elsewhere = tmp_path / "env_root"
    elsewhere.mkdir()
    monkeypatch.setenv("CALAIM_DATA_DIR", str(elsewhere))
    root = tmp_path / "resource_root"
    folder = landing(root, "LACARE", "2026-08")
    write_rosters(folder)
    write_csv(folder / "encounters.csv", claims(3))
    job = defs().resolve_job_def("plan_month_job")
    settings = PipelineSettings(data_root=str(root), duckdb_memory_limit="500MB", duckdb_threads=1)
    result = job.execute_in_process(
        partition_key=plan_month_key("LACARE", "2026-08"),
        instance=instance,
        resources={"settings": settings},
        raise_on_error=False,
    )
    assert result.is_node_success("validate_plan_month")  # (the checks' verdict is not the point)
    record = read_metrics(root / "lake", "LACARE", "2026-08")
    assert record is not None and record.rows_read == 6
    assert not (elsewhere / "lake").exists()
    assert settings.duckdb().duckdb_config() == {"memory_limit": "500MB", "threads": 1}


def test_a_config_dir_on_the_resource_must_match_the_environment(tmp_path, monkeypatch):
    from calaim_pipeline.defs.resources import PipelineSettings
    from calaim_pipeline.settings import ConfigError

    monkeypatch.delenv("CALAIM_CONFIG_DIR", raising=False)
    with pytest.raises(ConfigError, match="differs from CALAIM_CONFIG_DIR=\\(unset\\)"):
        PipelineSettings(config_dir=str(tmp_path)).thresholds()


def test_the_executor_follows_calaim_executor():
    """Unset: Dagster's default executor (local runs unchanged). CALAIM_EXECUTOR=celery: the
    Celery executor, loaded without a broker being reachable (URLs resolve when a run starts); a
    misspelt value stops the code location naming the variable."""
    assert defs().resolve_job_def("plan_month_job").executor_def.name == (
        "multi_or_in_process_executor"
    )
    probe = "from calaim_pipeline.definitions import defs; print(defs().resolve_job_def('plan_month_job').executor_def.name)"
    celery_env = {
        **os.environ,
        "CALAIM_EXECUTOR": "celery",
        "CALAIM_CELERY_BROKER": "redis://127.0.0.1:9/0",
        "CALAIM_CELERY_BACKEND": "redis://127.0.0.1:9/1",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], env=celery_env, capture_output=True, text=True, timeout=300
    )
    assert result.stdout.strip().splitlines()[-1] == "calaim_celery", result.stderr[-2000:]
    bad = subprocess.run(
        [sys.executable, "-c", probe],
        env={**celery_env, "CALAIM_EXECUTOR": "selery"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0 and "CALAIM_EXECUTOR='selery'" in bad.stderr
