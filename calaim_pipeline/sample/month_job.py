"""One plan-month of the sample: its claims streamed to the encounter file(s) with the defects,
replacements and voids it carries, then its rosters. generator.py decides which months run and
where; this module writes one of them (deterministic per (seed, plan, month, claim index))."""

from __future__ import annotations

import _random
import csv
import random
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calaim_pipeline import filemodes
from calaim_pipeline.ingest.contract import ENCOUNTER_COLUMNS, MEMBER_COLUMNS, PROVIDER_COLUMNS

from .claims import COL, L_BILLED, L_PAID, L_PTR, Claim, money
from .claims import build_claim as _build_claim
from .context import MonthCtx, iso, stable_int
from .defects import DefectKind, Env, Variant, dedicated_member, off_roster_cin, outcome_for
from .defects_content import KINDS_BY_RULE
from .incidents import Incident
from .parallel import CleanFeed, roster_texts
from .people import Dedicated, PlanPeople
from .writers import EncounterSink, clean_claim_text, csv_field, open_sink

FILE_FORMATS = {"csv": "csv", "csv.gz": "csv.gz", "parquet": "parquet"}
TRUTH_COLUMNS = (
    "source_file",
    "source_row",
    "claim_id",
    "line_number",
    "outcome",
    "reject_rules",
    "warn_rules",
)
RV_RATE = 0.015  # share of claims that replace (7) or void (8) a claim of the previous month
VOID_SHARE = 0.4
ORIGINAL_STRIDE = 7  # originals are searched in disjoint blocks, so no claim is corrected twice
_ROSTER_CHUNK = 8192
_seed = _random.Random.seed  # the C routine random.Random(x) ends in: same stream, less overhead


@dataclass(slots=True)
class MonthStats:
    files: list[str] = field(default_factory=list)
    lines: int = 0
    claims: int = 0
    members: int = 0
    defective_claims: int = 0
    replacements: int = 0
    voids: int = 0
    rows_rejected: int = 0
    rows_warned: int = 0
    defects: Counter = field(default_factory=Counter)
    rule_rows: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "lines": self.lines,
            "claims": self.claims,
            "members": self.members,
            "defective_claims": self.defective_claims,
            "replacements": self.replacements,
            "voids": self.voids,
            "rows_rejected": self.rows_rejected,
            "rows_warned": self.rows_warned,
            "defects": dict(sorted(self.defects.items())),
            "rule_rows": dict(sorted(self.rule_rows.items())),
        }


class MonthJob:
    """Everything for one plan-month: encounter files, truth, roster, directory."""

    def __init__(
        self,
        data_root: Path,
        seed: int,
        people: PlanPeople,
        people_args: tuple,
        mc: MonthCtx,
        lines: int,
        defect_rate: float,
        file_format: str,
        files_per_month: int,
        kinds: tuple[DefectKind, ...],
        previous: tuple[MonthCtx, int, float] | None,
        executor: Executor | None,
        incident: Incident | None = None,
    ) -> None:
        self.people = people
        self.people_args = people_args
        self.executor = executor
        self.mc = mc
        self.lines = lines
        self.defect_rate = defect_rate
        self.rv_rate = RV_RATE if previous is not None else 0.0
        # A claim whose first draw is below clean_from is a defect, a replacement/void or an
        # incident claim; at or above it, a plain clean claim (which the next month may correct).
        self.clean_from = self.defect_rate + self.rv_rate
        self.incident = incident
        self.incident_variant = 0
        if incident is not None:
            self.clean_from += incident.rate
        self.file_format = file_format
        self.files_per_month = files_per_month
        self.kinds = kinds
        self.previous = previous
        self.landing = data_root / "landing" / people.code / mc.month
        self.truth_dir = data_root / "truth" / people.code / mc.month
        self.stats = MonthStats()
        self.dedicated: list[Dedicated] = []
        self.kind_pointer = stable_int("defects", seed, people.code, mc.month) % len(kinds)
        self.variant_counter = {
            k.rule: stable_int("variant", seed, people.code, mc.month, k.rule) % len(k.variants)
            for k in kinds
        }
        self.counters = Counter()
        self.rv_counter = 0
        self.last_clean: int | None = None  # index of the file's latest clean claim
        self.feed: CleanFeed | None = None
        # One Random per role, reseeded per claim: same stream as random.Random(seed), cheaper.
        self._rng = random.Random()
        self._original_rng = random.Random()
        self._copy_rng = random.Random()

    # ---------------------------------------------------------------------------------------- run
    def run(self) -> MonthStats:
        filemodes.ensure_dir(self.landing)  # rosters hold member data: filemodes.py
        filemodes.ensure_dir(self.truth_dir)
        for stale in self.landing.glob("encounters*"):
            if stale.is_file():
                stale.unlink()
        with (self.truth_dir / "truth.csv").open("w", encoding="utf-8", newline="") as fh:
            self.truth = csv.writer(fh, lineterminator="\n")
            self.truth.writerow(TRUTH_COLUMNS)
            self._write_encounters()
        self._write_members()
        self._write_providers()
        return self.stats

    def _file_name(self, number: int) -> str:
        suffix = FILE_FORMATS[self.file_format]
        if self.files_per_month == 1:
            return f"encounters.{suffix}"
        return f"encounters_{number}.{suffix}"

    def _write_encounters(self) -> None:
        total = self.lines
        base, extra = divmod(total, self.files_per_month)
        targets = [base + (1 if f < extra else 0) for f in range(self.files_per_month)]
        remaining = total
        index = 0
        written_before = 0  # lines written to the files already closed
        if self.executor is not None:
            self.feed = CleanFeed(self.executor, self.people_args, self.mc.month, self.mc.run_index)
        for number, target in enumerate(targets, 1):
            sink = open_sink(
                self.landing / self._file_name(number), ENCOUNTER_COLUMNS, self.file_format
            )
            self.stats.files.append(sink.name)
            self.last_clean = None
            is_last = number == len(targets)
            try:
                # fill this file up to its share (the last file takes whatever is left)
                while remaining > 0 and (is_last or sink.rows_written < target):
                    n = self._claim(sink, index, remaining)
                    remaining -= n
                    index += 1
            finally:
                sink.close()
            written_before += sink.rows_written
        if self.feed is not None:
            self.feed.close()
            self.feed = None
        self.stats.lines = written_before
        self.stats.claims = index

    # -------------------------------------------------------------------------------------- claims
    def _claim(self, sink: EncounterSink, index: int, remaining: int) -> int:
        """Write claim `index`; returns the number of rows written."""
        if self.feed is not None:
            u, n_rows, text = self.feed.get(index)
            if u >= self.clean_from and n_rows <= remaining:
                sink.write_text(text, n_rows)
                self.last_clean = index
                return n_rows
        rng = self._rng
        _seed(rng, self.mc.seed_base | index)
        u = rng.random()
        pure = True  # the rng is where a plain clean claim would be: the claim can be regenerated
        if u < self.defect_rate:
            chosen = self._choose_kind(remaining)
            if chosen is not None:
                return self._defective(sink, index, rng, remaining, *chosen)
        elif u < self.defect_rate + self.rv_rate:
            written = self._replacement(sink, index, rng, remaining)
            if written:
                return written
            pure = False
        elif u < self.clean_from:
            chosen = self._incident_kind(remaining)
            if chosen is not None:
                return self._defective(sink, index, rng, remaining, *chosen)
        claim = _build_claim(self.people, self.mc, index, rng, max_lines=remaining)
        sink.write_text(clean_claim_text(claim.header, claim.lines, L_PTR), len(claim.lines))
        if pure:
            self.last_clean = index
        return len(claim.lines)

    def _regenerate(self, index: int) -> Claim:
        """Claim `index` of this month as a plain clean claim (a duplicate's source)."""
        rng = self._copy_rng
        _seed(rng, self.mc.seed_base | index)
        rng.random()
        return _build_claim(self.people, self.mc, index, rng, max_lines=1 << 30)

    def _choose_kind(self, remaining: int) -> tuple[DefectKind, Variant] | None:
        n = len(self.kinds)
        for attempt in range(n):
            kind = self.kinds[(self.kind_pointer + attempt) % n]
            variant = kind.variants[self.variant_counter[kind.rule] % len(kind.variants)]
            if (
                variant.min_lines > remaining
                or (kind.copies_line and self.last_clean is None)
                or (kind.after_first_month and self.previous is None)
            ):
                continue
            self.kind_pointer = (self.kind_pointer + attempt + 1) % n
            self.variant_counter[kind.rule] += 1
            return kind, variant
        return None

    def _incident_kind(self, remaining: int) -> tuple[DefectKind, Variant] | None:
        """The incident's kind and its next variant that fits this claim, if any."""
        assert self.incident is not None
        kind = KINDS_BY_RULE[self.incident.rule]
        variants = self.incident.variants()
        for attempt in range(len(variants)):
            variant = variants[(self.incident_variant + attempt) % len(variants)]
            if (
                variant.min_lines > remaining
                or (kind.copies_line and self.last_clean is None)
                or (kind.after_first_month and self.previous is None)
            ):
                continue
            self.incident_variant += attempt + 1
            return kind, variant
        return None

    def _defective(
        self,
        sink: EncounterSink,
        index: int,
        rng: random.Random,
        remaining: int,
        kind: DefectKind,
        variant: Variant,
    ) -> int:
        mc = self.mc
        dedicated = None
        if kind.copies_line:
            assert self.last_clean is not None
            source = self._regenerate(self.last_clean)
            header, lines = source.header, source.lines
            line = lines[int(rng.random() * len(lines))].copy()
            line[0] = "1"
            header = header.copy()
            header[COL["claim_id"]] = mc.claim_id(self.people.code, index)
            rows = [header + line]
            claim = None
        else:
            cin = None
            if variant.member == "dedicated":
                dedicated = dedicated_member(self.people, mc, self.counters["dedicated"])
                self.counters["dedicated"] += 1
                cin = dedicated.cin
            elif variant.member == "off_roster":
                cin = off_roster_cin(self.people, mc, self.counters["off_roster"])
                self.counters["off_roster"] += 1
            paid_range = {
                "month": None,
                "early": (mc.start, mc.end - 3),
                "before": (mc.start - 25, mc.start - 1),
            }[variant.paid]
            claim = _build_claim(
                self.people,
                mc,
                index,
                rng,
                max_lines=remaining,
                specs=variant.specs,
                min_lines=variant.min_lines,
                cin=cin,
                paid_range=paid_range,
            )
            rows = claim.rows()
        env = Env(self.people, mc, rng, dedicated, self.counters["defect"])
        self.counters["defect"] += 1
        flagged = [0] if claim is None else variant.apply(env, claim, rows)
        if dedicated is not None:
            self.dedicated.append(dedicated)
        outcome = outcome_for(kind, len(rows), flagged)
        first = sink.write_rows(rows)
        claim_col, line_col = COL["claim_id"], COL["line_number"]
        for j, row in enumerate(rows):
            rejects, warns = outcome.rejects[j], outcome.warns[j]
            if not rejects and not warns:
                continue
            self.truth.writerow(
                [
                    sink.name,
                    first + j,
                    row[claim_col],
                    row[line_col],
                    "rejected" if rejects else "accepted",
                    "|".join(sorted(rejects)),
                    "|".join(sorted(warns)),
                ]
            )
            if rejects:
                self.stats.rows_rejected += 1
            if warns:
                self.stats.rows_warned += 1
            for rule in rejects | warns:
                self.stats.rule_rows[rule] += 1
        self.stats.defective_claims += 1
        self.stats.defects[kind.rule] += 1
        return len(rows)

    # ------------------------------------------------------------------------ replacements / voids
    def _replacement(
        self, sink: EncounterSink, index: int, rng: random.Random, remaining: int
    ) -> int:
        rnd = rng.random
        mc = self.mc
        paid = mc.start + int(rnd() * (mc.end - mc.start + 1))
        void = rnd() < VOID_SHARE
        original = self._find_original(remaining, paid)
        if original is None:
            return 0
        received = paid - int(rnd() * min(10, paid - original.paid))
        header = original.header.copy()
        header[COL["claim_id"]] = mc.claim_id(self.people.code, index)
        header[COL["frequency_code"]] = "8" if void else "7"
        header[COL["original_claim_id"]] = original.claim_id
        header[COL["received_date"]] = iso(received)
        header[COL["paid_date"]] = iso(paid)
        lines = original.lines
        if not void:  # a replacement corrects the payment
            lines = [line.copy() for line in lines]
            for line in lines:
                billed = line[L_BILLED]
                whole, cents = billed.split(".")
                billed_cents = int(whole) * 100 + int(cents)
                line[L_PAID] = money(int(billed_cents * (0.5 + rnd() * 0.5)))
        sink.write_text(clean_claim_text(header, lines, L_PTR), len(lines))
        if void:
            self.stats.voids += 1
        else:
            self.stats.replacements += 1
        return len(lines)

    def _find_original(self, remaining: int, paid: int) -> Claim | None:
        """A clean original claim of the previous month of the run, never picked twice."""
        assert self.previous is not None
        prev, prev_claims, prev_clean_from = self.previous
        block = self.rv_counter
        self.rv_counter += 1
        for offset in range(ORIGINAL_STRIDE):
            index = block * ORIGINAL_STRIDE + offset
            if index >= prev_claims - 1:  # the month's last claim may have been truncated
                return None
            rng = self._original_rng
            _seed(rng, prev.seed_base | index)
            u = rng.random()
            if u < prev_clean_from:
                continue  # defective, an incident claim, or itself a replacement/void
            claim = _build_claim(self.people, prev, index, rng, max_lines=1 << 30)
            if len(claim.lines) > remaining or paid - claim.service_from > 365:
                continue
            return claim
        return None

    # ------------------------------------------------------------------------ roster and directory
    def _write_members(self) -> None:
        people = self.people
        with (self.landing / "members.csv").open("wb") as fh:
            fh.write((",".join(MEMBER_COLUMNS) + "\n").encode("utf-8"))
            if self.executor is not None:
                for text in roster_texts(self.executor, self.people_args, people.n_members):
                    fh.write(text.encode("utf-8"))
            else:
                for first in range(0, people.n_members, _ROSTER_CHUNK):
                    stop = min(first + _ROSTER_CHUNK, people.n_members)
                    fh.write(people.roster_text(first, stop).encode("utf-8"))
            tail = [
                ",".join([csv_field(v) for v in row]) + "\n"
                for dedicated in self.dedicated
                for row in people.dedicated_rows(dedicated)
            ]
            fh.write("".join(tail).encode("utf-8"))
        self.stats.members = people.n_members + len(self.dedicated)

    def _write_providers(self) -> None:
        with (self.landing / "providers.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(PROVIDER_COLUMNS)
            writer.writerows(self.people.provider_rows)
