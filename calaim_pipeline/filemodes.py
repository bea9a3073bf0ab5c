"""Modes of what the pipeline writes under the data root: owner-only, or readable by one group.

The lake's members, encounter_lines and encounter_rejects partitions, the 837 files and the staging
folders hold member CINs, names, birth dates and addresses, so on a shared server nothing the
pipeline creates may be readable by other accounts. By default every file is 0600 and every folder
0700. Report authors who query the warehouse get read access through one group:
``CALAIM_SHARE_GROUP=<group>`` makes files 0640 and folders 2750 (setgid, so everything created
inside keeps the group) with that group. Nothing is ever world-readable, and staging folders under
``work/`` stay 0700 whatever the setting: readers never need them.

Three layers, because the writers are not all ours: the process umask (set at CLI start, when the
Dagster code location loads, and by ``make ui``) covers DuckDB COPY, pyarrow, Dagster's own storage
and the sample generator; the domain writers also set modes explicitly on what they publish, so a
library caller without the umask still gets them right; and ``tighten_tree`` brings files written by
an earlier version (0644 in 0755 folders) to the same modes.
"""

from __future__ import annotations

import grp
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from calaim_pipeline.settings import ConfigError

SHARE_GROUP_ENV = "CALAIM_SHARE_GROUP"


class ShareGroupError(ConfigError):
    """CALAIM_SHARE_GROUP names a group that does not exist or this account is not in."""


@dataclass(frozen=True)
class Policy:
    gid: int | None  # the share group, None for owner-only

    @property
    def umask(self) -> int:
        return 0o027 if self.gid is not None else 0o077

    @property
    def file_mode(self) -> int:
        return 0o640 if self.gid is not None else 0o600

    @property
    def dir_mode(self) -> int:
        return 0o2750 if self.gid is not None else 0o700


def _resolve_group(name: str) -> int:
    try:
        gid = grp.getgrnam(name).gr_gid if not name.isdigit() else int(name)
        if name.isdigit():
            grp.getgrgid(gid)
    except KeyError:
        raise ShareGroupError(f"{SHARE_GROUP_ENV}={name}: no such group") from None
    if gid != os.getegid() and gid not in os.getgroups():
        raise ShareGroupError(
            f"{SHARE_GROUP_ENV}={name}: this account is not a member of the group, so it cannot "
            "give files to it (add the account to the group, then log in again)"
        )
    return gid


def policy() -> Policy:
    """The policy of the environment now (read per call: tests and the CLI set it late)."""
    name = os.environ.get(SHARE_GROUP_ENV, "").strip()
    return Policy(_resolve_group(name) if name else None)


def apply_umask() -> Policy:
    """Set the process umask from the policy, so files other libraries create follow it."""
    current = policy()
    os.umask(current.umask)
    return current


def _set_group(path: Path, rules: Policy) -> None:
    if rules.gid is not None and path.lstat().st_gid != rules.gid:
        os.chown(path, -1, rules.gid, follow_symlinks=False)


def secure_file(path: Path, rules: Policy | None = None) -> None:
    """Give a file the policy's mode and group (before it is renamed into place)."""
    rules = rules or policy()
    _set_group(path, rules)
    os.chmod(path, rules.file_mode)


def secure_dir(path: Path, *, private: bool = False, rules: Policy | None = None) -> None:
    rules = rules or policy()
    if private:
        os.chmod(path, 0o700)
        return
    _set_group(path, rules)
    os.chmod(path, rules.dir_mode)


def ensure_dir(path: Path, *, private: bool = False) -> Path:
    """``mkdir -p`` whose new folders get the policy's mode (``private``: 0700 for the last one).

    Folders that exist keep their mode (the data root itself is the operator's); ``tighten_tree``
    fixes those of an earlier version."""
    rules = policy()
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        secure_dir(folder, private=private and folder == path, rules=rules)
    if private and not missing:
        secure_dir(path, private=True, rules=rules)
    return path


def tighten_tree(root: Path, *, private: bool = False) -> int:
    """Bring every file and folder under ``root`` that this account owns to the policy (files
    keep their owner bits; group gets the owner's read/execute in shared mode, others nothing).
    Returns how many were changed. Symlinks are left alone; others' files are skipped."""
    if not root.is_dir():
        return 0
    rules = policy()
    changed = 0
    for folder, _dirs, files in os.walk(root):
        changed += _tighten(Path(folder), rules, private)
        for name in files:
            changed += _tighten(Path(folder) / name, rules, private)
    return changed


def _tighten(path: Path, rules: Policy, private: bool) -> int:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return 0
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
        return 0
    shared = rules.gid is not None and not private
    owner_bits = info.st_mode & 0o700
    if stat.S_ISDIR(info.st_mode):
        wanted = rules.dir_mode if shared else 0o700
    else:
        wanted = owner_bits | ((owner_bits & 0o500) >> 3) if shared else owner_bits
    regroup = shared and info.st_gid != rules.gid
    if stat.S_IMODE(info.st_mode) == wanted and not regroup:
        return 0
    if regroup:
        os.chown(path, -1, rules.gid, follow_symlinks=False)
    os.chmod(path, wanted)
    return 1
