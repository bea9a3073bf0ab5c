"""Which engine executes a plan-month run's steps, read from the environment.

Why a setting and not a code change: the same code location runs on a laptop (`make run`,
`make ui`: every step in the run's own process) and in production, where steps go to Celery
workers on other machines through a Redis broker. Production sets ``CALAIM_EXECUTOR=celery`` in
the environment of the daemon, the code server and every worker; nothing else changes. This module
only reads and checks the environment (no Dagster, no Celery): calaim_pipeline/defs/jobs.py and
calaim_pipeline/celery_app.py build the executor and the worker app from what it returns, so the
two sides cannot disagree on the settings that make a lost worker's step run again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from calaim_pipeline.settings import ConfigError

EXECUTOR_ENV = "CALAIM_EXECUTOR"
BROKER_ENV = "CALAIM_CELERY_BROKER"
BACKEND_ENV = "CALAIM_CELERY_BACKEND"
VISIBILITY_ENV = "CALAIM_CELERY_VISIBILITY_TIMEOUT"

DEFAULT_EXECUTOR = "default"
CELERY = "celery"
EXECUTORS = (DEFAULT_EXECUTOR, CELERY)
# Seconds a step's message may stay unacknowledged before Redis hands it to another worker. It
# must exceed the longest step (10M lines: ~10 minutes of validation), or a step still running is
# started a second time elsewhere; an hour leaves room and still redelivers a lost worker's step
# well inside run monitoring's 4-hour limit (deploy/dagster.yaml).
DEFAULT_VISIBILITY_TIMEOUT = 3600


class EngineConfigError(ConfigError):
    """An engine setting in the environment is missing or malformed (the CLI reports it as a
    configuration error, like a bad plans.yaml)."""


@dataclass(frozen=True)
class EngineSettings:
    executor: str
    visibility_timeout: int

    @property
    def distributed(self) -> bool:
        return self.executor == CELERY


def engine_settings(env: Mapping[str, str] | None = None) -> EngineSettings:
    """The engine the environment asks for; raises EngineConfigError naming the variable."""
    env = os.environ if env is None else env
    executor = (env.get(EXECUTOR_ENV) or DEFAULT_EXECUTOR).strip().lower()
    if executor not in EXECUTORS:
        raise EngineConfigError(f"{EXECUTOR_ENV}={executor!r}: expected one of {EXECUTORS}")
    raw = env.get(VISIBILITY_ENV) or str(DEFAULT_VISIBILITY_TIMEOUT)
    try:
        visibility = int(raw)
    except ValueError:
        raise EngineConfigError(f"{VISIBILITY_ENV}={raw!r}: expected whole seconds") from None
    if visibility < 5:
        raise EngineConfigError(f"{VISIBILITY_ENV}={visibility}: at least 5 seconds")
    if executor == CELERY:
        missing = [name for name in (BROKER_ENV, BACKEND_ENV) if not env.get(name)]
        if missing:
            raise EngineConfigError(
                f"{EXECUTOR_ENV}=celery needs {' and '.join(missing)} (e.g. redis://host:6379/0)"
            )
    return EngineSettings(executor=executor, visibility_timeout=visibility)


def celery_config_source(settings: EngineSettings) -> dict[str, Any]:
    """Celery settings shared by the executor (which sends steps) and the workers (which run them).

    - task_acks_late: a step's message is acknowledged when the step has finished, not when a
      worker takes it, so a worker that dies mid-step leaves the message to be delivered again.
    - task_reject_on_worker_lost: a worker whose pool process is killed (OOM) requeues the step
      at once instead of marking it failed.
    - worker_prefetch_multiplier=1: a worker holds no step it has not started, so a lost worker
      loses at most the step it was running, and a long step does not hide others behind it.
    - visibility_timeout: when the whole worker (machine, pod) vanishes nobody rejects the
      message; Redis gives it to another worker this many seconds after it was taken. The sweep
      settings make every worker look for such messages every few seconds (kombu's default is
      ~100 s), so recovery is bounded by the timeout.
    """
    sweep = max(1, min(10, settings.visibility_timeout // 4))
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # A step's result waits in the backend until its run's orchestrator reads it.
        "result_expires": 7 * 24 * 3600,
        "broker_transport_options": {
            # dagster-celery's own defaults (dagster_celery.defaults), which this dict replaces.
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
            "visibility_timeout": settings.visibility_timeout,
            "unacked_restore_interval": sweep,
            "unacked_restore_throttle": 1,
        },
    }
