"""The pipeline's settings as a Dagster resource: where the data lives, which configuration folder
is in effect and what DuckDB may use. Shown in the UI (Deployment → resources) with each field's
description; a field left unset takes the environment's value, so `calaim`, `make run` and the
daemon agree without configuration, and a deployment can pin them in one place instead."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from calaim_pipeline.settings import (
    ConfigError,
    DataPaths,
    DuckDBLimits,
    PlansRegistry,
    Thresholds,
    data_paths,
    load_plans,
    load_thresholds,
)


class PipelineSettings(dg.ConfigurableResource):
    """Data root, configuration folder and DuckDB limits of every plan-month run."""

    data_root: str | None = Field(
        default=None,
        description="Folder holding landing/, lake/, warehouse.duckdb, submissions/ and "
        "scorecards/. Unset: CALAIM_DATA_DIR, else ./data in the project.",
    )
    config_dir: str | None = Field(
        default=None,
        description="Folder with the plan's own plans.yaml and/or thresholds.yaml (each file "
        "missing there comes from the bundled config). Unset: CALAIM_CONFIG_DIR. It must name "
        "the same folder as CALAIM_CONFIG_DIR, which the judgement fingerprint and the CLI read.",
    )
    duckdb_memory_limit: str | None = Field(
        default=None,
        description="DuckDB memory cap per plan-month (it spills to disk beyond it), e.g. "
        "1500MB. Unset: CALAIM_DUCKDB_MEMORY, else 1500MB.",
    )
    duckdb_threads: int | None = Field(
        default=None,
        description="DuckDB threads per plan-month; 0 for every core. Unset: "
        "CALAIM_DUCKDB_THREADS, else every core.",
    )

    def paths(self) -> DataPaths:
        return DataPaths(Path(self.data_root).resolve()) if self.data_root else data_paths()

    def _check_config_dir(self) -> None:
        if self.config_dir is None:
            return
        configured = os.environ.get("CALAIM_CONFIG_DIR")
        if not configured or Path(configured).resolve() != Path(self.config_dir).resolve():
            raise ConfigError(
                f"resource settings.config_dir={self.config_dir} differs from "
                f"CALAIM_CONFIG_DIR={configured or '(unset)'}: set both to the same folder"
            )

    def thresholds(self) -> Thresholds:
        self._check_config_dir()
        return load_thresholds()

    def plans(self) -> PlansRegistry:
        self._check_config_dir()
        return load_plans()

    def duckdb(self) -> DuckDBLimits:
        from_env = DuckDBLimits.from_env()
        return DuckDBLimits(
            memory_limit=self.duckdb_memory_limit or from_env.memory_limit,
            threads=from_env.threads if self.duckdb_threads is None else self.duckdb_threads,
        )


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"settings": PipelineSettings()})
