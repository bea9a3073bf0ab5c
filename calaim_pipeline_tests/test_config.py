"""Configuration errors name the file and the key; unsafe or unknown landing folders are refused."""

from __future__ import annotations

import shutil

import pytest
import yaml

from calaim_pipeline import settings
from calaim_pipeline.ingest.landing import LandingError, find_drop, landed_plan_months
from calaim_pipeline.settings import PACKAGE_DIR, ConfigError, DataPaths


@pytest.fixture
def config_copy(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    shutil.copytree(PACKAGE_DIR / "config", folder)
    monkeypatch.setenv("CALAIM_CONFIG_DIR", str(folder))
    settings._plans_at.cache_clear()
    settings._thresholds_at.cache_clear()
    yield folder
    settings._plans_at.cache_clear()
    settings._thresholds_at.cache_clear()


def _edit(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_bundled_config_loads():
    assert settings.load_plans().codes == ["CHG", "HPSM", "LACARE"]
    assert settings.load_thresholds().checks.value("reject_rate_max") == 0.10


def test_bad_plan_value_names_the_key(config_copy):
    _edit(config_copy / "plans.yaml", lambda d: d["plans"][1].update(contact_phone="555-0100"))
    with pytest.raises(ConfigError, match=r"plans\.yaml[\s\S]*plans\.1\.contact_phone"):
        settings.load_plans()


def test_unsafe_plan_code_is_refused(config_copy):
    _edit(config_copy / "plans.yaml", lambda d: d["plans"][0].update(code="../X"))
    with pytest.raises(ConfigError, match=r"plans\.0\.code"):
        settings.load_plans()


def test_missing_threshold_names_the_key(config_copy):
    _edit(config_copy / "thresholds.yaml", lambda d: d["checks"].pop("reject_rate_max"))
    with pytest.raises(ConfigError, match=r"thresholds\.yaml[\s\S]*checks\.reject_rate_max"):
        settings.load_thresholds()


def test_threshold_without_source_is_refused(config_copy):
    _edit(
        config_copy / "thresholds.yaml", lambda d: d["checks"]["duplicate_rate_max"].pop("source")
    )
    with pytest.raises(ConfigError, match=r"checks\.duplicate_rate_max\.source"):
        settings.load_thresholds()


@pytest.mark.parametrize("plan", ["..", "CHG/../../etc", "bad plan", "NOPE"])
def test_unknown_or_unsafe_plan_folder_is_refused(tmp_path, plan):
    with pytest.raises(LandingError):
        find_drop(DataPaths(tmp_path), plan, "2026-09", ["CHG"])


def test_landing_scan_reports_refused_folders(tmp_path):
    paths = DataPaths(tmp_path)
    for name in ("CHG/2026-09", "UNKNOWN/2026-09", "CHG/Sept"):
        (paths.landing / name).mkdir(parents=True)
    (paths.landing / "CHG/2026-09/encounters.csv").write_text("x\n")
    found, refused = landed_plan_months(paths, ["CHG"])
    assert found == [("CHG", "2026-09")]
    assert any("UNKNOWN" in m for m in refused) and any("Sept" in m for m in refused)


@pytest.fixture
def own_config(tmp_path, monkeypatch):
    """An empty CALAIM_CONFIG_DIR; the test puts in it only the files it overrides."""
    folder = tmp_path / "own-config"
    folder.mkdir()
    monkeypatch.setenv("CALAIM_CONFIG_DIR", str(folder))
    settings._plans_at.cache_clear()
    settings._thresholds_at.cache_clear()
    yield folder
    settings._plans_at.cache_clear()
    settings._thresholds_at.cache_clear()


def test_config_dir_with_only_plans_uses_the_bundled_thresholds(own_config):
    shutil.copyfile(PACKAGE_DIR / "config" / "plans.yaml", own_config / "plans.yaml")
    _edit(own_config / "plans.yaml", lambda d: d["plans"].pop())
    assert settings.load_plans().codes == ["CHG", "HPSM"]  # its own plans.yaml
    assert settings.config_file("plans.yaml") == own_config / "plans.yaml"
    assert settings.config_file("thresholds.yaml") == PACKAGE_DIR / "config" / "thresholds.yaml"
    assert settings.load_thresholds().checks.value("reject_rate_max") == 0.10


def test_config_dir_with_only_thresholds_uses_the_bundled_plans(own_config):
    shutil.copyfile(PACKAGE_DIR / "config" / "thresholds.yaml", own_config / "thresholds.yaml")
    _edit(
        own_config / "thresholds.yaml", lambda d: d["checks"]["reject_rate_max"].update(value=0.2)
    )
    assert settings.load_thresholds().checks.value("reject_rate_max") == 0.2
    assert settings.load_plans().codes == ["CHG", "HPSM", "LACARE"]


def test_config_dir_that_is_missing_or_empty_says_which_files_it_takes(own_config, monkeypatch):
    with pytest.raises(ConfigError, match=r"holds none of plans\.yaml, thresholds\.yaml"):
        settings.load_plans()
    monkeypatch.setenv("CALAIM_CONFIG_DIR", str(own_config / "nope"))
    with pytest.raises(ConfigError, match=r"CALAIM_CONFIG_DIR=.*nope: not a folder"):
        settings.load_thresholds()
