"""The production check refuses the bundled sample's placeholder identifiers, naming each key, and
every X12 identifier element has its own key in the plans registry."""

from __future__ import annotations

import shutil

import pytest
import yaml

from calaim_pipeline import cli, settings
from calaim_pipeline.config_check import PLAN_KEYS, RECEIVER_KEYS, production_problems
from calaim_pipeline.settings import PACKAGE_DIR

pytestmark = pytest.mark.fast

REAL_IDS = {  # made-up production-looking ids (not the bundled sample's)
    "receiver": {k: "DHCS837PROD" for k in RECEIVER_KEYS},
    "CHG": {k: "ETIN7700123" for k in PLAN_KEYS},
    "HPSM": {k: "ETIN7700456" for k in PLAN_KEYS},
    "LACARE": {k: "ETIN7700789" for k in PLAN_KEYS},
}


@pytest.fixture
def config_copy(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    shutil.copytree(PACKAGE_DIR / "config", folder)
    monkeypatch.setenv("CALAIM_CONFIG_DIR", str(folder))
    settings._plans_at.cache_clear()
    yield folder
    settings._plans_at.cache_clear()


def _set_ids(path, keep: tuple[str, ...] = ()) -> None:
    """Replace every identifier by a production-looking one, except the keys named in ``keep``."""
    data = yaml.safe_load(path.read_text())
    for key, value in REAL_IDS["receiver"].items():
        if f"receiver.{key}" not in keep:
            data["receiver"][key] = value
    for plan in data["plans"]:
        for key, value in REAL_IDS[plan["code"]].items():
            if f"plans[{plan['code']}].{key}" not in keep:
                plan[key] = value
    path.write_text(yaml.safe_dump(data))


def test_shipped_sample_configuration_fails_naming_each_placeholder_key(capsys):
    assert cli.main(["check-config", "--production"]) == 1
    err = capsys.readouterr().err
    expected = [f"receiver.{k}" for k in RECEIVER_KEYS] + [
        f"plans[{code}].{k}" for code in ("CHG", "HPSM", "LACARE") for k in PLAN_KEYS
    ]
    for key in expected:
        assert f"  {key}: " in err, key
    assert err.count("is a sample placeholder") == len(expected) == 16


def test_without_production_the_sample_configuration_is_valid(capsys):
    assert cli.main(["check-config"]) == 0
    assert "configuration OK" in capsys.readouterr().out


def test_replaced_identifiers_pass_the_production_check(config_copy, capsys):
    _set_ids(config_copy / "plans.yaml")
    assert production_problems(settings.load_plans()) == []
    assert cli.main(["check-config", "--production"]) == 0


def test_one_forgotten_placeholder_is_named_alone(config_copy, capsys):
    _set_ids(config_copy / "plans.yaml", keep=("plans[HPSM].payer_id",))
    problems = production_problems(settings.load_plans())
    assert len(problems) == 1 and problems[0].startswith("plans[HPSM].payer_id: 'HPSM0001'")
    assert cli.main(["check-config", "--production"]) == 1


def test_each_element_reads_its_own_key(config_copy):
    """ISA08, GS03, 1000B NM109, 2010BB NM109, 2330B NM109 / SVD01 come from distinct keys."""
    data = yaml.safe_load((config_copy / "plans.yaml").read_text())
    data["receiver"].update(
        isa_receiver_id="ISA08ID", gs_receiver_code="GS03ID", submitter_receiver_id="NM140ID",
        payer_id="PRID",
    )  # fmt: skip
    data["plans"][0]["payer_id"] = "CHGPAYER"
    (config_copy / "plans.yaml").write_text(yaml.safe_dump(data))
    from calaim_pipeline_tests.test_x12_837 import CREATED, control, professional_claims
    from calaim_pipeline_tests.x12_lake import render

    registry = settings.load_plans()
    text, _ = render(
        "837P", professional_claims(), registry.plan("CHG"), registry.receiver, control(), CREATED
    )
    segments = text.split("~\n")
    isa = segments[0].split("*")
    assert isa[8].strip() == "ISA08ID"
    assert segments[1].split("*")[3] == "GS03ID"
    assert "NM1*40*2*DEPARTMENT OF HEALTH CARE SERVICES*****46*NM140ID" in segments
    assert "NM1*PR*2*DEPARTMENT OF HEALTH CARE SERVICES*****PI*PRID" in segments
    assert "NM1*PR*2*COMMUNITY HEALTH GROUP*****PI*CHGPAYER" in segments
    assert all(s.startswith("SVD*CHGPAYER*") for s in segments if s.startswith("SVD*"))


def test_an_older_registry_with_one_receiver_id_still_loads(config_copy):
    data = yaml.safe_load((config_copy / "plans.yaml").read_text())
    for key in RECEIVER_KEYS:
        del data["receiver"][key]
    for plan in data["plans"]:
        del plan["payer_id"]
    (config_copy / "plans.yaml").write_text(yaml.safe_dump(data))
    registry = settings.load_plans()
    assert registry.receiver.payer_id == registry.receiver.isa_receiver_id == "DHCSPACES"
    assert registry.plan("CHG").payer_id == "CHG00001"
