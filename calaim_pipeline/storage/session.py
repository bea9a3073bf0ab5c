"""One step's view of the data root: the real folder on local disk, or, with the data root on
object storage, a private empty folder filled with what the step reads and emptied back into the
store when it ends.

What a step reads is data (``Scope``), not code spread over the modules: a plan-month step reads
its own month of the plan's big tables, every month of the plan's small history tables (ledger,
DHCS answers, month records, scorecards), its landing folder, its submission folders and its
control numbers. Every file the step created, changed or removed inside that folder is published
(uploaded or deleted) before the plan's lock is released, so the next step, on whatever machine,
starts from it. A step that dies publishes nothing: the files it half-made die with its folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from calaim_pipeline import owner
from calaim_pipeline.lake import LAKE_TABLES, METRICS_TABLE
from calaim_pipeline.settings import MONTH_PATTERN, DataPaths
from calaim_pipeline.storage import locks
from calaim_pipeline.storage.object_store import ObjectStore, RemoteObject, object_store

# Areas of the data root that travel; work/ (scratch), warehouse/ and dagster_home/ never do.
AREAS = ("landing", "lake", "submissions", "scorecards", "responses")


@dataclass(frozen=True)
class Scope:
    """The objects one step reads: folders to list and a test on each key found there."""

    bases: tuple[str, ...]
    wants: Callable[[str], bool]
    lock: str | None  # the plan whose lock the step holds, None for a month-wide read


def plan_month_scope(plan: str, month: str | None) -> Scope:
    """What a plan-month step (validate, checks, submission, scorecard, mark sent, DHCS answers)
    reads; ``month=None``: a plan-wide step (response ingest), which needs no big table."""
    own = (
        f"landing/{plan}/{month}/" if month else f"landing/{plan}/-/",
        f"submissions/{plan}/",
        f"submissions/_control/{plan}.",
        f"scorecards/{plan}/",
        f"responses/{plan}/",
    )
    month_part = f"/plan_code={plan}/extract_month={month}/"

    def wants(key: str) -> bool:
        if key.startswith(own):
            return True
        parts = key.split("/")
        if parts[0] != "lake" or len(parts) < 4 or parts[2] != f"plan_code={plan}":
            return False
        # The big per-month tables only for this month; history tables for every month.
        return parts[1] not in LAKE_TABLES or month_part in key

    bases = ("lake", own[0].rstrip("/"), "submissions", f"scorecards/{plan}", f"responses/{plan}")
    return Scope(bases=bases, wants=wants, lock=plan)


def outputs_scope(plan: str, month: str) -> Scope:
    """What a person reviews after a run on this machine: the month record, the ledger, the
    837 files and the scorecard (``calaim run`` copies them here when the root is a bucket)."""
    own = (f"submissions/{plan}/{month}/", f"scorecards/{plan}/{month}/")
    ledger = ("submissions", "submitted_lines", METRICS_TABLE)

    def wants(key: str) -> bool:
        parts = key.split("/")
        in_ledger = parts[0] == "lake" and len(parts) > 3 and parts[1] in ledger
        return key.startswith(own) or (in_ledger and parts[2] == f"plan_code={plan}")

    return Scope(bases=("lake", *(o.rstrip("/") for o in own)), wants=wants, lock=None)


def record_scope(plan: str, month: str) -> Scope:
    """The month record and the plan's submissions ledger: what the landing sensor reads to
    decide whether a month is due (a few small files per tick)."""
    bases = (
        f"lake/{METRICS_TABLE}/plan_code={plan}/extract_month={month}",
        f"lake/submissions/plan_code={plan}",
    )
    return Scope(bases=bases, wants=lambda key: True, lock=None)


def index_scope() -> Scope:
    """What the statewide scorecard index reads: every plan's scorecards and month records."""

    def wants(key: str) -> bool:
        return key.startswith("scorecards/") or key.startswith(f"lake/{METRICS_TABLE}/")

    return Scope(bases=("scorecards", f"lake/{METRICS_TABLE}"), wants=wants, lock=None)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """key -> (size, mtime_ns) of every file in the travelling areas of ``root``."""
    found: dict[str, tuple[int, int]] = {}
    for area in AREAS:
        for path in (root / area).rglob("*"):
            if path.is_file() and not path.name.endswith((".lock", ".partial")):
                stat = path.stat()
                found[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return found


def pull(store: ObjectStore, root: Path, scope: Scope) -> list[RemoteObject]:
    """Copy every object of ``scope`` into the empty folder ``root``."""
    objects = [
        o for base in dict.fromkeys(scope.bases) for o in store.list(base) if scope.wants(o.key)
    ]
    unique = {o.key: o for o in objects}
    for key in sorted(unique):
        store.download(key, root / key, unique[key].mtime_ns)
    return list(unique.values())


def publish(store: ObjectStore, root: Path, before: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Upload what changed in ``root`` since ``before``, delete what the step removed."""
    after = _snapshot(root)
    changed = sorted(k for k, v in after.items() if before.get(k) != v)
    removed = sorted(k for k in before if k not in after)
    # Small files last (month records, manifests, control numbers): whoever reads a record finds
    # the data it describes already in place.
    changed.sort(key=lambda k: (k.endswith((".json", ".html")), k))
    for key in changed:
        store.upload(root / key, key)
    for key in removed:
        store.delete(key)
    return {"uploaded": len(changed), "deleted": len(removed)}


STEP_LABEL = "step"


def _remove_dead_steps(work: Path) -> None:
    """Folders of steps whose process died (a killed worker): they hold copies of member data
    and were never published, so they only go."""
    for folder in work.glob(f"{STEP_LABEL}_*"):
        if folder.is_dir() and owner.left_behind(folder, owner.folder_owner(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def step_paths(local: DataPaths, scope: Scope) -> Iterator[DataPaths]:
    """The DataPaths a step works in: ``local`` itself when the data root is on local disk;
    with ``CALAIM_LAKE_URI`` set, a fresh folder under ``local.work`` filled from the store
    under the plan's cross-machine lock, published back when the block ends without error."""
    store = object_store()
    if store is None:
        yield local
        return
    dsn = locks.lock_dsn()
    if scope.lock is not None and dsn is None:
        raise locks.PlanLockError(
            f"{locks.LOCK_DSN_ENV} is unset: with the data root on object storage, writers of a "
            "plan need the cross-machine lock (a PostgreSQL URL, docs/deploy.md)"
        )
    with ExitStack() as stack:
        if scope.lock is not None:
            stack.enter_context(locks.plan_lock(scope.lock, dsn))
        local.work.mkdir(parents=True, exist_ok=True)
        _remove_dead_steps(local.work)
        folder = local.work / owner.folder_name(STEP_LABEL)
        folder.mkdir(mode=0o700)
        stack.callback(shutil.rmtree, folder, True)
        pull(store, folder, scope)
        before = _snapshot(folder)
        yield DataPaths(folder, ephemeral=True)
        publish(store, folder, before)


def fetch(paths: DataPaths, scope: Scope) -> int:
    """Copy ``scope``'s objects into the local data root (a reader's copy; never published back).
    A no-op on local disk. Returns how many objects were copied."""
    store = object_store()
    return 0 if store is None else len(pull(store, paths.root, scope))


def landed_plan_months(
    paths: DataPaths, plans: list[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """(plan, month) pairs with an encounter file in landing, wherever the data root lives, and
    messages for what is refused (ingest.landing.landed_plan_months on local disk)."""
    from calaim_pipeline.ingest import landing

    store = object_store()
    if store is None:
        return landing.landed_plan_months(paths, plans)
    found: set[tuple[str, str]] = set()
    refused: set[str] = set()
    for obj in store.list("landing"):
        parts = obj.key.split("/")
        if len(parts) != 4:
            continue
        plan, month, name = parts[1:]
        if plan not in plans:
            refused.add(f"{plan}: not a plan in plans.yaml")
        elif not MONTH_PATTERN.fullmatch(month):
            refused.add(f"{plan}/{month}: month folder is not YYYY-MM")
        elif landing.is_encounter_name(name):
            found.add((plan, month))
    return sorted(found), sorted(refused)


def published_location(paths: DataPaths, path: Path) -> str:
    """Where a file the step wrote will live: its ``s3://`` address with the data root on object
    storage (the step's folder is gone once it ends), else the local path."""
    store = object_store()
    if store is None:
        return str(path)
    return store.url(path.relative_to(paths.root).as_posix())
