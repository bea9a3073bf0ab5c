"""The user docs stay honest: every `calaim` command parses with the real CLI, every `make` target
exists, every relative link (and #anchor) resolves, and every Dagster job, schedule, sensor, asset
or check the docs name exists in the code location."""

from __future__ import annotations

import importlib.util
import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from calaim_pipeline import cli

PROJECT_DIR = Path(__file__).resolve().parent.parent
DOCS = sorted([PROJECT_DIR / "README.md", *(PROJECT_DIR / "docs").glob("*.md")])
USER_DOCS = [
    PROJECT_DIR / "docs" / name
    for name in ("compliance.md", "data-engineers.md", "warehouse.md", "tables.md")
]
SHELL_LANGUAGES = ("", "bash", "sh", "shell", "console")
FENCE = re.compile(r"^[ \t]*```([\w-]*)[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)


def _rel(path: Path) -> str:
    return str(path.relative_to(PROJECT_DIR))


@dataclass(frozen=True)
class Snippet:
    doc: str
    text: str
    inline: bool  # an inline `code span` (may name a command without all its arguments)


@cache
def snippets(path: Path) -> tuple[Snippet, ...]:
    """Shell lines of fenced shell blocks, and every inline code span outside fenced blocks."""
    text = path.read_text(encoding="utf-8")
    found = []
    for language, body in FENCE.findall(text):
        if language in SHELL_LANGUAGES:
            found += [Snippet(_rel(path), line, False) for line in body.splitlines()]
    prose = FENCE.sub("", text)
    for span in re.findall(r"`([^`]+)`", prose):
        found.append(Snippet(_rel(path), " ".join(span.split()), True))
    return tuple(found)


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.split()


def calaim_commands() -> list[tuple[Snippet, list[str]]]:
    """(snippet, argv after `calaim`) for every `calaim ...` command shown in the docs."""
    found = []
    for path in DOCS:
        for snippet in snippets(path):
            words = _words(snippet.text)
            for i, word in enumerate(words):
                is_calaim = word == "calaim" or word.endswith("/calaim")
                # Only a command position: start of line, after `uv run`, or after && ; |
                at_command = i == 0 or words[i - 1] in ("run", "&&", ";", "|")
                if is_calaim and at_command and i + 1 < len(words):
                    found.append((snippet, words[i + 1 :]))
    return found


def make_targets_shown() -> list[tuple[Snippet, str]]:
    found = []
    for path in DOCS:
        for snippet in snippets(path):
            words = _words(snippet.text)
            for i, word in enumerate(words[:-1]):
                previous = words[i - 1] if i else ""
                if word == "make" and (i == 0 or "=" in previous or previous in ("&&", ";")):
                    found.append((snippet, words[i + 1]))
    return found


def makefile_targets() -> set[str]:
    text = (PROJECT_DIR / "Makefile").read_text(encoding="utf-8")
    return {m for m in re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, flags=re.M)} - {".PHONY"}


# --- calaim commands ----------------------------------------------------------------------------


COMMANDS = calaim_commands()


def test_the_docs_show_calaim_commands():
    shown = {argv[0] for _, argv in COMMANDS if argv}
    assert {"run", "mark-sent", "generate", "rules-doc"} <= shown


@pytest.mark.parametrize(
    "snippet, argv", COMMANDS, ids=[f"{s.doc}:{' '.join(a)}" for s, a in COMMANDS]
)
def test_calaim_command_parses_with_the_real_cli(snippet, argv, monkeypatch, capsys):
    """Parse with calaim_pipeline.cli.main, every subcommand replaced by a recorder (nothing runs)."""
    called = []
    for name in dir(cli):
        if name.startswith("cmd_"):
            monkeypatch.setattr(cli, name, lambda args, n=name: called.append((n, args)) or 0)
    try:
        assert cli.main(list(argv)) == 0
    except SystemExit as exc:
        error = capsys.readouterr().err
        # An inline mention such as `calaim mark-sent` names the command without its arguments.
        if snippet.inline and exc.code == 2 and "the following arguments are required" in error:
            return
        pytest.fail(f"{snippet.doc}: `calaim {' '.join(argv)}` does not parse:\n{error}")
    assert len(called) == 1


def test_python_modules_shown_in_the_docs_exist():
    shown = []
    for path in DOCS:
        for snippet in snippets(path):
            words = _words(snippet.text)
            shown += [
                (snippet.doc, words[i + 1])
                for i, w in enumerate(words[:-1])
                if w == "-m" and i and words[i - 1].endswith("python")
            ]
    assert ("docs/tables.md", "calaim_pipeline.tables_doc") in shown
    assert [(d, m) for d, m in shown if importlib.util.find_spec(m) is None] == []


# --- make targets -------------------------------------------------------------------------------


def test_every_make_target_shown_exists():
    shown = make_targets_shown()
    assert {"run", "test", "ui"} <= {t for _, t in shown}
    targets = makefile_targets()
    assert [(s.doc, t) for s, t in shown if t not in targets] == []


# --- links --------------------------------------------------------------------------------------


def github_slug(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, flags=re.M):
        slug = github_slug(heading)
        found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return frozenset(found)


def relative_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`]*`", "", text)
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("path", DOCS, ids=_rel)
def test_relative_links_resolve(path):
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {_rel(resolved)}")
    assert broken == []


def test_user_docs_are_linked_from_the_readme():
    links = set(relative_links(PROJECT_DIR / "README.md"))
    for name in ("compliance.md", "data-engineers.md", "tables.md", "warehouse.md"):
        assert f"docs/{name}" in links


# --- Dagster names ------------------------------------------------------------------------------

KINDS = ("job", "schedule", "sensor", "asset", "check")
NAME = r"([a-z][a-z0-9_]*)"
KIND_BEFORE = re.compile(rf"\b({'|'.join(KINDS)})s?\s+\(?`{NAME}`", re.I)
KIND_AFTER = re.compile(rf"`{NAME}`\)?\s+({'|'.join(KINDS)})s?\b", re.I)
UI_PATH = re.compile(rf"\b(Assets|Catalog|Jobs)\s*→\s*{NAME}")
SUFFIX = re.compile(rf"`{NAME}_(job|sensor|schedule)`")
# The names the issue asks these docs to explain; each must be mentioned and must exist.
REQUIRED = {
    "plan_month_job": "job",
    "mark_sent_job": "job",
    "statewide_index_job": "job",
    "monthly_all_plans": "schedule",
    "landing_sensor": "sensor",
    "encounter_lines": "asset",
    "submission": "asset",
    "dq_scorecard": "asset",
}


def dagster_names_mentioned(path: Path) -> set[tuple[str, str]]:
    """(kind, name) for names the prose presents as a Dagster job, schedule, sensor, asset or check."""
    text = " ".join(FENCE.sub("", path.read_text(encoding="utf-8")).split())
    found = {(kind.lower(), name) for kind, name in KIND_BEFORE.findall(text)}
    found |= {(kind.lower(), name) for name, kind in KIND_AFTER.findall(text)}
    found |= {
        ("job" if where == "Jobs" else "asset", name) for where, name in UI_PATH.findall(text)
    }
    found |= {(kind, f"{stem}_{kind}") for stem, kind in SUFFIX.findall(text)}
    return found


@cache
def dagster_names() -> dict[str, set[str]]:
    from calaim_pipeline.definitions import defs

    d = defs()
    graph = d.resolve_asset_graph()
    repo = d.get_repository_def()
    return {
        "job": {job.name for job in d.resolve_all_job_defs()},
        "schedule": {s.name for s in repo.schedule_defs},
        "sensor": {s.name for s in repo.sensor_defs},
        "asset": {key.to_user_string() for key in graph.get_all_asset_keys()},
        "check": {key.name for key in graph.asset_check_keys},
    }


def test_required_names_are_mentioned_and_exist():
    mentioned = set().union(*(dagster_names_mentioned(p) for p in [*USER_DOCS, *DOCS]))
    assert sorted({(kind, name) for name, kind in REQUIRED.items()} - mentioned) == []
    from calaim_pipeline.definitions import defs

    d = defs()
    for name, kind in REQUIRED.items():
        if kind == "job":
            assert d.resolve_job_def(name).name == name
        elif kind == "schedule":
            assert d.resolve_schedule_def(name).name == name
        elif kind == "sensor":
            assert d.resolve_sensor_def(name).name == name
        else:
            assert name in dagster_names()["asset"]


@pytest.mark.parametrize("path", DOCS, ids=_rel)
def test_every_dagster_name_in_the_docs_exists(path):
    names = dagster_names()
    missing = sorted((k, n) for k, n in dagster_names_mentioned(path) if n not in names[k])
    assert missing == []


# --- the UI path to a check, uv, stopping the UI, no Python for compliance ---------------------

COMPLIANCE = PROJECT_DIR / "docs" / "compliance.md"
UI_PATH_MARKER = "<!-- ui-path:"


def documented_check_path() -> list[str]:
    """The click path to one partition's check, as docs/compliance.md gives it: the **bold**
    labels, in order, of the numbered steps after the `<!-- ui-path: ... -->` marker. The browser
    test (test_ops_ui.py) clicks exactly these, so a wrong documented path fails it."""
    text = COMPLIANCE.read_text(encoding="utf-8")
    assert UI_PATH_MARKER in text, "docs/compliance.md lost its ui-path marker"
    after = text[text.index(UI_PATH_MARKER) :].split("\n", 1)[1]
    steps = []
    for line in after.splitlines():
        if not re.match(r"^\d+\.\s", line):
            break
        steps.append(line)
    assert steps, "no numbered steps after the ui-path marker"
    return re.findall(r"\*\*([^*]+)\*\*", " ".join(steps))


def test_documented_ui_path_names_real_things():
    from calaim_pipeline.console.summary import UI_CHECK_PATH
    from calaim_pipeline.sample import DEFAULT_MONTHS
    from calaim_pipeline.settings import load_plans

    path = documented_check_path()
    assert len(path) == len(UI_CHECK_PATH)
    assert path[1] in dagster_names()["asset"] and path[3] in dagster_names()["check"]
    assert path[5] in DEFAULT_MONTHS and path[6] in load_plans().codes
    example = {"check": path[3], "month": path[5], "plan": path[6]}
    # The summary of `calaim run` prints the same path for a failing month.
    assert path == [step.format(**example) for step in UI_CHECK_PATH]


def test_uv_is_shown_where_the_bootstrap_puts_it():
    """`make setup` installs uv in .tools/bin, not on PATH: a bare `uv run` would not work."""
    bare = []
    for path in DOCS:
        for snippet in snippets(path):
            if re.search(r"(?<![\w/.$()])uv run\b", snippet.text):
                bare.append((snippet.doc, snippet.text))
    assert bare == []


def test_the_docs_say_how_to_stop_the_ui():
    for path in (PROJECT_DIR / "README.md", COMPLIANCE, PROJECT_DIR / "docs" / "data-engineers.md"):
        text = " ".join(path.read_text(encoding="utf-8").split())
        assert "Ctrl-C" in text and "make ui" in text, _rel(path)


def test_the_compliance_guide_needs_no_python():
    text = COMPLIANCE.read_text(encoding="utf-8")
    blocks = [(m.start(), lang) for m in FENCE.finditer(text) for lang in [m.group(1)]]
    python = [start for start, lang in blocks if lang == "python"]
    # Any Python step must say it is optional, in the paragraph just before it.
    assert [s for s in python if "optional" not in text[max(0, s - 300) : s].lower()] == []
    assert "from calaim_pipeline" not in text and "import duckdb" not in text
