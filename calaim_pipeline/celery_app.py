"""The Celery app the pipeline's workers run: `celery -A calaim_pipeline.celery_app worker`.

Why our own module instead of `dagster-celery worker start -y config.yaml`: the worker must use
the very settings the executor sends steps with (late acknowledgement, redelivery of a lost
worker's step, prefetch 1), and both sides read them from one place, engine_settings.py, with the
broker and backend from the same environment variables (CALAIM_CELERY_BROKER,
CALAIM_CELERY_BACKEND). `dagster-celery worker start` would write them to a config file under
DAGSTER_HOME on every start. The tasks are dagster-celery's own (execute one step of a run).
"""

from __future__ import annotations

import os

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

from calaim_pipeline import filemodes
from calaim_pipeline.definitions import defs
from calaim_pipeline.engine_settings import (
    BACKEND_ENV,
    BROKER_ENV,
    CELERY,
    EXECUTOR_ENV,
    celery_config_source,
    engine_settings,
)

# Workers write under the data root like run workers do: same umask (docs/deploy.md).
filemodes.apply_umask()

_settings = engine_settings({**os.environ, EXECUTOR_ENV: CELERY})  # raises without a broker
app = make_app(
    CeleryExecutor.for_cli(
        broker=os.environ[BROKER_ENV],
        backend=os.environ[BACKEND_ENV],
        config_source=celery_config_source(_settings),
    ).app_args()
)

execute_plan = create_task(app)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)

# Load the code location once, in the worker's main process, before it forks its pool: each pool
# process then starts warm, so a worker's first step takes as long as its others (measured under
# load: 30 s cold, 8-11 s warm). That matters beyond speed: a step running longer than the
# visibility timeout is handed to a second worker, and the first step must not be the one that is.
defs()
