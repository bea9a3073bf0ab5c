"""Ingest profiles: how one plan's own extract shape maps onto the extract contract, as data.

A profile (docs/profiles.md) says how to read a plan's files (delimiter, quote, encoding) and how
each contract column comes out of them: from a column of another name, a constant, a part of a
packed field, through a value map, from a date or amount written another way. Profiles live in
`profiles.yaml` beside the plans registry (CALAIM_CONFIG_DIR's copy when it has one, like
plans.yaml), which also says which plan uses which profile; built-in profiles (the Tuva Project's
input layer) ship in `ingest/builtin_profiles/` and are available by name to every plan.

Profiles are validated when loaded: an unknown key, a column the contract does not have, a date
format it does not know fail with the file and the key (settings.py's format). A plan without a
profile reads the contract's shape, exactly as before. The profile's name and content hash go
into the month record, so a judgement says which mapping produced it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from calaim_pipeline.ingest.contract import (
    DATE_COLUMNS,
    DIAGNOSIS_COLUMNS,
    ENCOUNTER_COLUMNS,
    MEMBER_COLUMNS,
    MODIFIER_COLUMNS,
    PROVIDER_COLUMNS,
)
from calaim_pipeline.settings import PLAN_CODE_PATTERN, ConfigError, config_file

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_profiles"
PROFILES_FILE = "profiles.yaml"
PLAN_PLACEHOLDER = "{plan}"  # a constant with this value is the plan code of the landing folder

# Date formats a profile may name, as DuckDB strptime patterns.
DATE_FORMATS = {
    "YYYY-MM-DD": "%Y-%m-%d",
    "MM/DD/YYYY": "%m/%d/%Y",
    "YYYYMMDD": "%Y%m%d",
    "MM-DD-YYYY": "%m-%d-%Y",
    "MMDDYYYY": "%m%d%Y",
    "YYYY/MM/DD": "%Y/%m/%d",
    "DD/MM/YYYY": "%d/%m/%Y",
}

# Per table: the contract's columns, which hold dates, which hold amounts.
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "encounters": (ENCOUNTER_COLUMNS, tuple(DATE_COLUMNS), ("billed_amount", "paid_amount")),
    "members": (MEMBER_COLUMNS, ("birth_date", "enrollment_start", "enrollment_end"), ()),
    "providers": (PROVIDER_COLUMNS, (), ()),
}

# Columns whose values a rule judges, so an unmapped code marked by a value map (`unmapped:
# reject`) is rejected by that rule: CLAIM_TYPE_INVALID, FREQUENCY_CODE_INVALID, POS_INVALID,
# REVENUE_CODE_INVALID, FACILITY_TYPE_INVALID, PROCEDURE_CODE_FORMAT, MODIFIER_FORMAT,
# ICD10_NOT_BILLABLE, GENDER_INVALID and COUNTY_INVALID (the last two on the member's lines).
REJECTABLE = frozenset(
    {
        "claim_type",
        "frequency_code",
        "place_of_service",
        "revenue_code",
        "facility_type_code",
        "procedure_code",
        *MODIFIER_COLUMNS,
        *DIAGNOSIS_COLUMNS,
        "gender",
        "county_code",
    }
)
UNMAPPED_MARK = "unmapped:"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dialect(_Strict):
    """How the plan's CSV files are written. The header row is required (names are mapped)."""

    delimiter: str = Field(",", min_length=1, max_length=1)
    quote: str = Field('"', min_length=1, max_length=1)
    encoding: Literal["utf-8", "cp1252", "latin-1"] = "utf-8"
    header: Literal[True] = True

    @field_validator("delimiter")
    @classmethod
    def _not_a_line_end(cls, value: str) -> str:
        if value in "\r\n":
            raise ValueError("a line end cannot be the delimiter")
        return value


class Source(_Strict):
    """A contract column from a file column: optionally the first group of a regular expression
    (a value that does not match is kept as read, so the column's own rule judges it) and a
    default for an empty value."""

    column: str = Field(min_length=1)
    pattern: str | None = None
    default: str | None = None

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                groups = re.compile(value).groups
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
            if groups != 1:
                raise ValueError("needs exactly one capture group (the value to keep)")
        return value


class Packed(_Strict):
    """One file column holding several values (`E119;I10;Z79.4`): part i goes to `into[i]`.
    Parts beyond the last target stay joined in the last one, so its rule rejects the row
    rather than a value being dropped. With `join`, the parts are rejoined with it into a single
    target (`1:3` -> `1,3` for diagnosis_pointers)."""

    column: str = Field(min_length=1)
    separator: str = Field(min_length=1)
    into: list[str] = Field(min_length=1)
    join: str | None = None

    @model_validator(mode="after")
    def _join_has_one_target(self) -> Packed:
        if self.join is not None and len(self.into) != 1:
            raise ValueError("join rejoins the parts into one column: give one column in into")
        return self


class ValueMap(_Strict):
    """Codes as the plan writes them -> the contract's codes. A value the map does not know is
    kept (`unmapped: keep`, judged as read) or marked so the column's own rule rejects the row
    (`unmapped: reject`, the default)."""

    values: dict[str, str] = Field(min_length=1)
    unmapped: Literal["keep", "reject"] = "reject"


class Amounts(_Strict):
    currency_symbol: str | None = Field(None, min_length=1)
    thousands_separator: Literal[",", ".", " ", "'"] | None = None
    decimal_separator: Literal[".", ","] = "."


class TableProfile(_Strict):
    """How one file kind (encounters, members or providers) maps to the contract's columns. A
    contract column not named anywhere is read from the file's column of the same name, if any."""

    dialect: Dialect | None = None  # this file kind's own, else the profile's
    columns: dict[str, str | Source] = Field(default_factory=dict)
    constants: dict[str, str] = Field(default_factory=dict)
    packed: list[Packed] = Field(default_factory=list)
    value_maps: dict[str, ValueMap] = Field(default_factory=dict)
    date_formats: list[str] = Field(default_factory=list)
    amounts: Amounts | None = None

    @field_validator("date_formats")
    @classmethod
    def _known_formats(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in DATE_FORMATS]
        if unknown:
            raise ValueError(
                f"unknown date format {unknown[0]!r}; known: {', '.join(DATE_FORMATS)}"
            )
        return value

    def source(self, column: str) -> Source | None:
        found = self.columns.get(column)
        return Source(column=found) if isinstance(found, str) else found


class Profile(_Strict):
    description: str = ""
    dialect: Dialect = Field(default_factory=Dialect)
    encounters: TableProfile = Field(default_factory=TableProfile)
    members: TableProfile = Field(default_factory=TableProfile)
    providers: TableProfile = Field(default_factory=TableProfile)

    @model_validator(mode="after")
    def _contract_columns(self) -> Profile:
        for table, (known, _, _) in TABLES.items():
            _check_table(table, getattr(self, table), known)
        return self


def _check_table(table: str, part: TableProfile, known: tuple[str, ...]) -> None:
    """Every target is a contract column of the table, and each is produced in one way only."""
    targets: dict[str, str] = {}
    named = [(f"columns.{c}", c) for c in part.columns]
    named += [(f"constants.{c}", c) for c in part.constants]
    named += [(f"packed.{i}.into", c) for i, p in enumerate(part.packed) for c in p.into]
    for key, column in named:
        if column not in known:
            raise ValueError(f"{table}.{key}: {column!r} is not a column of the {table} contract")
        if column in targets:
            raise ValueError(
                f"{table}.{key}: {column!r} is already produced by {table}.{targets[column]}"
            )
        targets[column] = key
    for column, value_map in part.value_maps.items():
        if column not in known:
            raise ValueError(f"{table}.value_maps.{column}: not a column of the {table} contract")
        if value_map.unmapped == "reject" and column not in REJECTABLE:
            raise ValueError(
                f"{table}.value_maps.{column}.unmapped: 'reject' needs a column a rule judges "
                f"({', '.join(sorted(c for c in REJECTABLE if c in known))}); use 'keep'"
            )
    if part.amounts is not None and not TABLES[table][2]:
        raise ValueError(f"{table}.amounts: the {table} contract has no amount columns")


class ProfilesFile(_Strict):
    """profiles.yaml: profiles by name, and which plan reads its files through which profile."""

    profiles: dict[str, Profile] = Field(default_factory=dict)
    plans: dict[str, str] = Field(default_factory=dict)

    @field_validator("plans")
    @classmethod
    def _plan_codes(cls, value: dict[str, str]) -> dict[str, str]:
        for code in value:
            if not PLAN_CODE_PATTERN.fullmatch(code):
                raise ValueError(f"{code!r} is not a plan code (2-12 characters A-Z, 0-9, _)")
        return value


@dataclass(frozen=True)
class ActiveProfile:
    """The profile one plan's files are read through, with what identifies it."""

    name: str
    profile: Profile
    content_hash: str  # sha256 of the profile's validated content, first 16 hex digits
    source: Path  # the file that defines it

    def table(self, name: str) -> TableProfile:
        return getattr(self.profile, name)


def content_hash(profile: Profile) -> str:
    canonical = json.dumps(profile.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _problems(path: Path, error: ValidationError, prefix: str = "") -> str:
    lines = [f"{path}: invalid ingest profile"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        # A cross-field problem names its own key path (`encounters.columns.x: ...`).
        inner = message.split(": ", 1)[0]
        if ": " in message and inner.split(".")[0] in TABLES:
            message = message.split(": ", 1)[1]
            key = ".".join(p for p in (key, inner) if p)
        lines.append(f"  {prefix}{key or '<root>'}: {message}")
    return "\n".join(lines)


def parse_profiles(raw: object, path: Path) -> ProfilesFile:
    """A profiles file's content, validated; errors name the file and the key."""
    try:
        return ProfilesFile.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise ConfigError(_problems(path, exc)) from None


def _read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


@cache
def _profiles_at(path: Path) -> ProfilesFile:
    return parse_profiles(_read_yaml(path), path)


@cache
def builtin_profiles() -> dict[str, tuple[Profile, Path]]:
    """The profiles shipped with the package, by file stem (`tuva`)."""
    found = {}
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        raw = _read_yaml(path)
        try:
            found[path.stem] = (Profile.model_validate(raw), path)
        except ValidationError as exc:
            raise ConfigError(_problems(path, exc)) from None
    return found


def load_profiles() -> ProfilesFile:
    path = config_file(PROFILES_FILE)
    if not path.is_file():
        return ProfilesFile()
    return _profiles_at(path)


def profile_for_plan(plan: str) -> ActiveProfile | None:
    """The profile `plan`'s files are read through, None for the contract's own shape."""
    path = config_file(PROFILES_FILE)
    configured = load_profiles()
    name = configured.plans.get(plan)
    if name is None:
        return None
    if name in configured.profiles:
        profile, source = configured.profiles[name], path
    elif name in builtin_profiles():
        profile, source = builtin_profiles()[name]
    else:
        known = sorted({*configured.profiles, *builtin_profiles()})
        raise ConfigError(
            f"{path}: invalid ingest profile\n  plans.{plan}: no profile named {name!r} "
            f"(defined: {', '.join(known) or 'none'})"
        )
    return ActiveProfile(name, profile, content_hash(profile), source)
