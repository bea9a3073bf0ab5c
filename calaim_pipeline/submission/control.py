"""Interchange (ISA13) and group (GS06) control numbers that never repeat for a plan.

DHCS rejects an interchange whose control number it has already seen from the same sender, so the
last numbers used are kept per plan in a small JSON file. Allocation holds an exclusive ``fcntl``
lock on a sidecar lock file while it reads, increments and atomically replaces the JSON (temp file,
fsync, rename), so two processes building files for the same plan never get the same number and a
crash never leaves a half-written counter. A number allocated for a build that then fails is simply
never used: gaps are harmless, repeats are not.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from calaim_pipeline import filemodes, owner
from calaim_pipeline.settings import PLAN_CODE_PATTERN

MAX_CONTROL_NUMBER = 999_999_999  # ISA13 is 9 digits; GS06 is at most 9 digits


class ControlNumbersExhausted(RuntimeError):
    """A plan has used every 9-digit control number (a new sender id is needed)."""


@dataclass(frozen=True, slots=True)
class ControlNumbers:
    """The control numbers of one interchange (one file): ISA13/IEA02 and GS06/GE02."""

    interchange: int
    group: int

    def __post_init__(self) -> None:
        for name in ("interchange", "group"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_CONTROL_NUMBER:
                raise ValueError(f"{name} control number {value} is outside 1-{MAX_CONTROL_NUMBER}")

    @property
    def isa13(self) -> str:
        """ISA13 is fixed width: 9 digits, zero padded."""
        return f"{self.interchange:09d}"

    @property
    def gs06(self) -> str:
        return str(self.group)


class ControlNumberStore:
    """Per-plan counters in ``<directory>/<PLAN>.json``, safe across processes on one host.

    ``fcntl`` locks are advisory and local: every writer must go through this class, and the
    directory must not be shared between hosts over NFS.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _paths(self, plan_code: str) -> tuple[Path, Path]:
        if not PLAN_CODE_PATTERN.fullmatch(plan_code):
            raise ValueError(f"not a plan code: {plan_code!r}")
        return self.directory / f"{plan_code}.json", self.directory / f"{plan_code}.lock"

    @contextmanager
    def _locked(self, plan_code: str) -> Iterator[Path]:
        state, lock = self._paths(plan_code)
        filemodes.ensure_dir(self.directory)
        with open(lock, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield state
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @staticmethod
    def _read(state: Path) -> ControlNumbers | None:
        if not state.is_file():
            return None
        payload = json.loads(state.read_text(encoding="utf-8"))
        return ControlNumbers(int(payload["interchange"]), int(payload["group"]))

    def _write(self, state: Path, numbers: ControlNumbers) -> None:
        payload = {
            "interchange": numbers.interchange,
            "group": numbers.group,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        fd, tmp = tempfile.mkstemp(
            dir=self.directory, prefix=f"{owner.temp_prefix()}{state.stem}-", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, state)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a crash
        finally:
            os.close(dir_fd)

    def last(self, plan_code: str) -> ControlNumbers | None:
        """The numbers most recently allocated for the plan, or None before the first file."""
        with self._locked(plan_code) as state:
            return self._read(state)

    def allocate(self, plan_code: str) -> ControlNumbers:
        """Reserve the next interchange and group numbers for one file of this plan."""
        with self._locked(plan_code) as state:
            previous = self._read(state)
            interchange = previous.interchange + 1 if previous else 1
            group = previous.group + 1 if previous else 1
            if max(interchange, group) > MAX_CONTROL_NUMBER:
                raise ControlNumbersExhausted(f"plan {plan_code}: 9-digit control numbers used up")
            numbers = ControlNumbers(interchange, group)
            self._write(state, numbers)
            return numbers

    def ensure_at_least(self, plan_code: str, interchange: int, group: int) -> None:
        """Move the counters forward (never back), e.g. past numbers a previous system used."""
        with self._locked(plan_code) as state:
            previous = self._read(state)
            target = ControlNumbers(
                max(interchange, previous.interchange if previous else 0),
                max(group, previous.group if previous else 0),
            )
            if target != previous:
                self._write(state, target)
