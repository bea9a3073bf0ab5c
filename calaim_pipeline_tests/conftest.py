"""Shared fixtures: an isolated data root, a real Dagster instance, and a way to run a partition."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from calaim_pipeline.settings import DataPaths

if TYPE_CHECKING:  # imported where used: the fast tier (make test-fast) never loads Dagster
    import dagster as dg

PROJECT_DIR = Path(__file__).resolve().parent.parent
OUTPUT_DIR = PROJECT_DIR / "test-output"


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataPaths:
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("CALAIM_DATA_DIR", str(root))
    return DataPaths(root)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A real, persistent (sqlite) Dagster instance in a temp folder."""
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        yield inst


def run_partition(
    instance: dg.DagsterInstance, plan: str, month: str, *, raise_on_error: bool = False
) -> dg.ExecuteInProcessResult:
    from calaim_pipeline.definitions import defs
    from calaim_pipeline.defs.partitions import plan_month_key

    job = defs().resolve_job_def("plan_month_job")
    return job.execute_in_process(
        partition_key=plan_month_key(plan, month), instance=instance, raise_on_error=raise_on_error
    )


SAMPLE_MONTHS = ("2026-07", "2026-08", "2026-09")
SAMPLE_SIZES = {"CHG": 700, "HPSM": 900}


@pytest.fixture(scope="session")
def sample_built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DataPaths, Any]]:
    """Generated sample data (2 plans x 3 months, both claim types, ECM/CS, inpatient and
    outpatient stays, capitated and FFS providers, prior authorizations, replacements and voids)
    run through the real plan-month job, oldest month first, on a real instance. Session-wide:
    test_submission.py and test_x12_content.py read the same files."""
    import dagster as dg

    from calaim_pipeline.sample import generate_sample

    root = tmp_path_factory.mktemp("submission") / "data"
    root.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CALAIM_DATA_DIR", str(root))
        generate_sample(
            root, plan_lines=SAMPLE_SIZES, months=SAMPLE_MONTHS, defect_rate=0.03, seed=5
        )
        home = root.parent / "home"
        home.mkdir()
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            for month in SAMPLE_MONTHS:
                for plan in SAMPLE_SIZES:
                    assert run_partition(instance, plan, month).success, f"{plan} {month}"
            yield DataPaths(root), instance
