"""Ingest profiles as configuration: a bad profile fails at load naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from calaim_pipeline.ingest import profiles
from calaim_pipeline.settings import ConfigError

pytestmark = pytest.mark.fast

PLAN = "CHG"


def _config_dir(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    (folder / "profiles.yaml").write_text(text, encoding="utf-8")
    return folder


def _broken_yaml(tmp_path: Path, text: str, monkeypatch) -> str:
    monkeypatch.setenv("CALAIM_CONFIG_DIR", str(_config_dir(tmp_path, text)))
    with pytest.raises(ConfigError) as caught:
        profiles.profile_for_plan(PLAN)
    return str(caught.value)


@pytest.mark.parametrize(
    "text, key",
    [
        (
            "profiles: {p: {encounters: {colums: {claim_id: X}}}}\nplans: {CHG: p}",
            "profiles.p.encounters.colums: Extra inputs are not permitted",
        ),
        (
            "profiles: {p: {encounters: {columns: {claim_nbr: X}}}}\nplans: {CHG: p}",
            "profiles.p.encounters.columns.claim_nbr: 'claim_nbr' is not a column of the",
        ),
        (
            "profiles: {p: {encounters: {date_formats: [DD-MON-YY]}}}\nplans: {CHG: p}",
            "profiles.p.encounters.date_formats: Value error, unknown date format 'DD-MON-YY'",
        ),
        (
            "profiles: {p: {dialect: {encoding: utf-16}}}\nplans: {CHG: p}",
            "profiles.p.dialect.encoding: Input should be",
        ),
        ("profiles: {}\nplans: {CHG: nope}", "plans.CHG: no profile named 'nope'"),
    ],
)
def test_a_bad_profile_names_the_file_and_key(tmp_path, monkeypatch, text, key):
    message = _broken_yaml(tmp_path, text, monkeypatch)
    assert message.startswith(f"{tmp_path / 'config' / 'profiles.yaml'}: invalid ingest profile")
    assert key.removeprefix("profiles.p.encounters.date_formats: Value error, ") in message
    assert key.split(":")[0] in message


def test_no_profile_by_default_and_the_hash_follows_the_content(tmp_path, monkeypatch):
    monkeypatch.delenv("CALAIM_CONFIG_DIR", raising=False)
    assert profiles.profile_for_plan(PLAN) is None
    text = "profiles: {p: {dialect: {delimiter: '|'}}}\nplans: {CHG: p}\n"
    monkeypatch.setenv("CALAIM_CONFIG_DIR", str(_config_dir(tmp_path, text)))
    first = profiles.profile_for_plan(PLAN)
    assert first is not None and first.name == "p" and len(first.content_hash) == 16
    other = tmp_path / "other"
    other.mkdir()
    (other / "profiles.yaml").write_text(text.replace("'|'", "';'"), encoding="utf-8")
    monkeypatch.setenv("CALAIM_CONFIG_DIR", str(other))
    second = profiles.profile_for_plan(PLAN)
    assert second is not None and second.content_hash != first.content_hash


def test_a_column_produced_twice_and_a_reject_map_on_an_unjudged_column_are_refused(
    tmp_path, monkeypatch
):
    text = (
        "profiles: {p: {encounters: {columns: {claim_id: A}, constants: {claim_id: B}}}}\n"
        "plans: {CHG: p}"
    )
    assert "profiles.p.encounters.constants.claim_id: 'claim_id' is already produced" in (
        _broken_yaml(tmp_path, text, monkeypatch)
    )
    text = "profiles: {p: {members: {value_maps: {city: {values: {LA: Los Angeles}}}}}}\nplans: {CHG: p}"
    assert "profiles.p.members.value_maps.city.unmapped: 'reject' needs a column" in (
        _broken_yaml(tmp_path, text, monkeypatch)
    )


def test_the_run_summary_names_the_profile_of_a_profiled_plan():
    import io

    from calaim_pipeline.console.outcomes import MonthOutcome
    from calaim_pipeline.console.summary import print_summary
    from calaim_pipeline_tests.records import make_record

    profiled = make_record(profile="acme_pipe", profile_hash="0123456789abcdef")
    plain = make_record(month="2026-08")
    out = io.StringIO()
    print_summary(
        [
            MonthOutcome("CHG", "2026-09", "passed", "all checks pass", metrics=profiled),
            MonthOutcome("CHG", "2026-08", "passed", "all checks pass", metrics=plain),
        ],
        out,
    )
    lines = out.getvalue().splitlines()
    named = [line for line in lines if "ingest profile" in line]
    assert len(named) == 1 and "acme_pipe (0123456789abcdef)" in named[0]
    assert lines.index(named[0]) == 1 + next(i for i, x in enumerate(lines) if "2026-09" in x)
