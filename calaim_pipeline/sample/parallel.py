"""Optional worker processes for big plan-months: they pre-format clean claims and roster rows.

A clean claim is a pure function of (seed, plan, month, claim index), so workers can format claims
ahead of the writer in index order; the writer keeps every decision that needs sequential state
(defects, replacements, file splits, the month's line budget) and regenerates anything it does not
take from the feed. Output bytes are identical with or without workers.
"""

from __future__ import annotations

import _random
import multiprocessing
import os
import random
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor

from .claims import L_PTR, build_claim
from .context import MonthCtx
from .people import PlanPeople
from .writers import clean_claim_text

PARALLEL_MIN_LINES = 200_000  # below this a month is generated in-process
CHUNK_CLAIMS = 2048
ROSTER_CHUNK = 16_384
WINDOW = 6  # chunks in flight per feed
_seed = _random.Random.seed
_PEOPLE: dict[tuple, PlanPeople] = {}


def worker_count() -> int:
    """Workers to use: CALAIM_SAMPLE_WORKERS, else the CPU count (at most 4); <= 1 = none."""
    configured = os.environ.get("CALAIM_SAMPLE_WORKERS")
    if configured is not None:
        return max(0, int(configured))
    return min(4, os.cpu_count() or 1)


def make_executor(workers: int) -> Executor:
    """A process pool; fork where available (no re-import of the ICD-10 list per worker)."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _people(seed: int, plan: dict, plan_index: int, lines: int) -> PlanPeople:
    key = (seed, plan["code"], plan_index, lines)
    people = _PEOPLE.get(key)
    if people is None:
        _PEOPLE.clear()
        people = _PEOPLE[key] = PlanPeople(seed, plan, plan_index, lines)
    return people


def clean_chunk(
    people_args: tuple, month: str, run_index: int, start: int, stop: int
) -> tuple[list[float], list[int], list[str]]:
    """For claims start..stop-1: the first draw (decides defect / replacement) and the clean
    claim's row count and CSV text."""
    seed = people_args[0]
    people = _people(*people_args)
    mc = MonthCtx.build(seed, people.code, month, run_index)
    rng = random.Random()
    draws, counts, texts = [], [], []
    for index in range(start, stop):
        _seed(rng, mc.seed_base | index)
        draws.append(rng.random())
        try:
            claim = build_claim(people, mc, index, rng, max_lines=1 << 30)
        except ValueError:  # past what the month can hold: the writer never gets this far
            counts.append(1 << 30)
            texts.append("")
            continue
        counts.append(len(claim.lines))
        texts.append(clean_claim_text(claim.header, claim.lines, L_PTR))
    return draws, counts, texts


def roster_chunk(people_args: tuple, first: int, stop: int) -> str:
    """Roster CSV text of regular members first..stop-1."""
    return _people(*people_args).roster_text(first, stop)


class CleanFeed:
    """Clean claims of one month in index order, computed WINDOW chunks ahead."""

    def __init__(self, executor: Executor, people_args: tuple, month: str, run_index: int):
        self._executor = executor
        self._args = (people_args, month, run_index)
        self._pending: deque[Future] = deque()
        self._next_chunk = 0
        self._base = 0
        self._current: tuple[list[float], list[int], list[str]] | None = None
        for _ in range(WINDOW):
            self._submit()

    def _submit(self) -> None:
        start = self._next_chunk * CHUNK_CLAIMS
        self._pending.append(
            self._executor.submit(clean_chunk, *self._args, start, start + CHUNK_CLAIMS)
        )
        self._next_chunk += 1

    def get(self, index: int) -> tuple[float, int, str]:
        """(first draw, rows, text) of claim `index`; indexes must come in increasing order."""
        while self._current is None or index >= self._base + CHUNK_CLAIMS:
            if self._current is not None:
                self._base += CHUNK_CLAIMS
            self._current = self._pending.popleft().result()
            self._submit()
        offset = index - self._base
        draws, counts, texts = self._current
        return draws[offset], counts[offset], texts[offset]

    def close(self) -> None:
        """Drop the chunks computed ahead."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()


def roster_texts(executor: Executor, people_args: tuple, n_members: int):
    """Roster text chunks in member order, computed by the pool."""
    pending: deque[Future] = deque()
    starts = iter(range(0, n_members, ROSTER_CHUNK))

    def submit() -> None:
        first = next(starts, None)
        if first is not None:
            stop = min(first + ROSTER_CHUNK, n_members)
            pending.append(executor.submit(roster_chunk, people_args, first, stop))

    for _ in range(WINDOW):
        submit()
    while pending:
        text = pending.popleft().result()
        submit()
        yield text
