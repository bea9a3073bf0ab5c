"""Live progress of one plan-month run, from the run's own events.

`execute_in_process` returns only when the run is over, so the CLI subscribes to the run's events
on the instance (`DagsterInstance.add_event_listener`, called synchronously as each event is
stored) and prints each stage as it begins and its elapsed time when the next one begins. The
validation step reports its inner stages (staging, judging, writing) as log messages
(`STAGE_LOG_PREFIX`); the later steps are stages of their own.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

import dagster as dg

from calaim_pipeline.defs.encounters import STAGE_LOG_PREFIX

# The plan-month job's steps a person recognises; the validation step names its own stages.
STEP_STAGES: Mapping[str, str] = {
    "plan_month_checks": "checks",
    "submission": "837 files",
    "dq_scorecard": "scorecard",
}
_STEP_ENDS = {
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_SKIPPED,
}


def console_run_config(verbose: bool) -> dict:
    """Run config for Dagster's console logger: its INFO logs with --verbose, else nothing at all.
    CRITICAL, not WARNING: a failed step or run is logged at ERROR with its stack trace, which is
    an expected outcome here (a failing blocking check) and is told in the summary instead. The
    instance's event log keeps every event and trace either way (the UI shows them)."""
    return {"loggers": {"console": {"config": {"log_level": "INFO" if verbose else "CRITICAL"}}}}


class StageReporter:
    """An event listener that prints "staging 0.4s, judging 2.1s, ..." on the current line."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._stage: str | None = None
        self._began = 0.0
        self.stages: list[tuple[str, float]] = []  # (stage, seconds), in the order they ran

    def __call__(self, entry: dg.EventLogEntry) -> None:
        event = entry.dagster_event
        if event is None:
            message = entry.user_message or ""
            if message.startswith(STAGE_LOG_PREFIX):
                self._begin(message[len(STAGE_LOG_PREFIX) :], entry.timestamp)
            return
        if event.event_type == dg.DagsterEventType.STEP_START and event.step_key in STEP_STAGES:
            self._begin(STEP_STAGES[event.step_key], entry.timestamp)
        elif event.event_type in _STEP_ENDS:
            self._end(entry.timestamp)

    def _begin(self, stage: str, at: float) -> None:
        self._end(at)
        separator = ", " if self.stages else " "
        self._write(f"{separator}{stage}")
        self._stage, self._began = stage, at

    def _end(self, at: float) -> None:
        if self._stage is None:
            return
        seconds = max(0.0, at - self._began)
        self.stages.append((self._stage, seconds))
        self._write(f" {seconds:.1f}s")
        self._stage = None

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()
