"""The engine setting (CALAIM_EXECUTOR): local runs keep Dagster's default executor unless the
environment asks for Celery, a Celery setting without its broker fails naming the variable, and
the Celery settings that make a lost worker's step run again are always there (the executor and
the workers both take them from celery_config_source)."""

from __future__ import annotations

import pytest

from calaim_pipeline.engine_settings import (
    DEFAULT_VISIBILITY_TIMEOUT,
    EngineConfigError,
    celery_config_source,
    engine_settings,
)
from calaim_pipeline.settings import ConfigError

pytestmark = pytest.mark.fast

CELERY_ENV = {
    "CALAIM_EXECUTOR": "celery",
    "CALAIM_CELERY_BROKER": "redis://127.0.0.1:6379/0",
    "CALAIM_CELERY_BACKEND": "redis://127.0.0.1:6379/1",
}


def test_unset_is_the_default_executor():
    settings = engine_settings({})
    assert not settings.distributed
    assert settings.visibility_timeout == DEFAULT_VISIBILITY_TIMEOUT


def test_celery_needs_broker_and_backend():
    with pytest.raises(EngineConfigError, match="CALAIM_CELERY_BROKER and CALAIM_CELERY_BACKEND"):
        engine_settings({"CALAIM_EXECUTOR": "celery"})
    assert engine_settings(CELERY_ENV).distributed


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("CALAIM_EXECUTOR", "dask", "expected one of"),
        ("CALAIM_CELERY_VISIBILITY_TIMEOUT", "1h", "whole seconds"),
        ("CALAIM_CELERY_VISIBILITY_TIMEOUT", "2", "at least 5"),
    ],
)
def test_bad_values_name_the_variable(key, value, match):
    with pytest.raises(ConfigError, match=f"{key}.*{match}"):
        engine_settings({**CELERY_ENV, key: value})


def test_lost_worker_settings():
    config = celery_config_source(
        engine_settings({**CELERY_ENV, "CALAIM_CELERY_VISIBILITY_TIMEOUT": "30"})
    )
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    transport = config["broker_transport_options"]
    assert transport["visibility_timeout"] == 30
    # Every worker sweeps for a vanished worker's steps at least 4 times per timeout.
    assert transport["unacked_restore_interval"] * transport["unacked_restore_throttle"] <= 30 / 4
