"""Members (eligibility roster) and providers (directory) for one plan.

Roster rows are a pure function of the member index, so the roster can be streamed for millions of
members and stays identical month to month; the provider directory is small and built once per plan.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import identifiers as ids
from .context import coprime_multiplier, stable_int
from .vocab import CIN_LETTERS, TAX
from .vocab_people import (
    COUNTY_PLACES,
    DEFAULT_PLACES,
    FIRST_NAMES_F,
    FIRST_NAMES_M,
    LAST_NAMES,
    ORG_KINDS,
    ORG_WORDS,
    STREET_SUFFIXES,
    STREETS,
)

ENROLL_START = "2020-01-01"
# Members with two spans: an old closed span and the current open one (both before any service).
TWO_SPAN_FIRST = ("2018-07-01", "2019-10-31")
TWO_SPAN_SECOND_START = "2020-02-01"
TWO_SPAN_PER_MILLE = 30  # members with two spans, per thousand
EARLIEST_SERVICE = "2020-02-01"


@dataclass(slots=True)
class Org:
    """A billing provider (organisation or solo practitioner) and who renders / attends for it."""

    npi: str
    taxonomy: str
    staff: list[tuple[str, str]]  # (npi, taxonomy) of rendering or attending providers


@dataclass(slots=True)
class Dedicated:
    """A roster member that exists for one defective claim (bad gender/county, ended span...)."""

    index: int  # position in the plan's CIN space
    cin: str
    gender: str | None = None  # None = draw a valid one
    county: str | None = None
    spans: list[tuple[str, str]] = field(default_factory=lambda: [(ENROLL_START, "")])


class PlanPeople:
    """Members and providers of one plan; everything derived from (seed, plan, lines per month)."""

    def __init__(self, seed: int, plan: dict, plan_index: int, lines_per_month: int) -> None:
        self.code: str = plan["code"]
        self.plan_index = plan_index
        self.counties: tuple[str, ...] = tuple(plan.get("counties") or ("19",))
        self.n_members = max(1, -(-lines_per_month // 3))
        self.member_mult = coprime_multiplier(self.n_members, 2_654_435_761)
        self.member_add = stable_int("members", seed, self.code) % self.n_members
        self.cin_salt = stable_int("cin", seed, self.code) % ids.CIN_SPACE
        self.name_salt = stable_int("names", seed, self.code)
        self._cin_mult = ids.CIN_MULT
        self._prepare_person_tables()
        self._build_directory(seed, lines_per_month)

    # ---------------------------------------------------------------------------------------- CINs
    def cin(self, index: int) -> str:
        """CIN of an index of the plan's CIN space."""
        return ids.cin(index, self.cin_salt)

    def regular_cin(self, member: int) -> str:
        """CIN of a regular roster member."""
        return ids.cin(member, self.cin_salt)

    # ------------------------------------------------------------------------------------- members
    def _person(self, key: int) -> list[str]:
        """[last, first, birth, gender, address, city, state, zip, county] of a person key."""
        return self._person_from(ids.mix128(key ^ self.name_salt))

    def _person_from(self, h: int) -> list[str]:
        g = h & 1023
        if g < 532:
            gender, names = "F", self._names_f
        elif g < 1018:
            gender, names = "M", self._names_m
        else:
            gender, names = "U", self._names_f if h & 1024 else self._names_m
        h >>= 11
        last, first = names[h % len(names)]
        h //= len(names)
        birth = self._births[h % len(self._births)]
        h //= len(self._births)
        city, zip3, county = self._places[h % len(self._places)]
        h //= len(self._places)
        number = h % 19_899 + 100
        h //= 19_899
        street = self._streets[h % len(self._streets)]
        h //= len(self._streets)
        address = f"{number} {street}" if h % 5 else f"{number} {street} Apt {h % 40 + 1}"
        return [last, first, birth, gender, address, city, "CA", f"{zip3}{h % 97:02d}", county]

    def _prepare_person_tables(self) -> None:
        self._names_f = tuple((last, first) for last in LAST_NAMES for first in FIRST_NAMES_F)
        self._names_m = tuple((last, first) for last in LAST_NAMES for first in FIRST_NAMES_M)
        self._births = tuple(
            f"{year:04d}-{month:02d}-{day:02d}"
            for year in range(1940, 2020)
            for month in range(1, 13)
            for day in range(1, 29)
        )
        places = []
        for county in self.counties:
            cities, zips = COUNTY_PLACES.get(county, DEFAULT_PLACES)
            places += [(city, zip3, county) for city in cities for zip3 in zips]
        self._places = tuple(places)
        self._streets = tuple(f"{s} {x}" for s in STREETS for x in STREET_SUFFIXES)

    def roster_text(self, first: int, stop: int) -> str:
        """CSV lines (with trailing newline) of regular members first..stop-1: the fast path for
        millions of roster rows. No generated name, address or city contains a comma or quote."""
        out = []
        append = out.append
        mult, salt, name_salt = self._cin_mult, self.cin_salt, self.name_salt
        person = self._person_from
        mix = ids.mix128
        open_tail = f",{ENROLL_START},\n"
        for member in range(first, stop):
            k = (member * mult + salt) % ids.CIN_SPACE
            h = mix(member ^ name_salt)
            head = f"9{k % 10_000_000:07d}{CIN_LETTERS[k // 10_000_000]}," + ",".join(person(h))
            if (h >> 100) % 1000 < TWO_SPAN_PER_MILLE:  # bits the person fields do not use
                append(f"{head},{TWO_SPAN_FIRST[0]},{TWO_SPAN_FIRST[1]}\n")
                append(f"{head},{TWO_SPAN_SECOND_START},\n")
            else:
                append(head + open_tail)
        return "".join(out)

    def dedicated_rows(self, member: Dedicated) -> list[list[str]]:
        """Roster rows of a dedicated member."""
        fields = self._person(member.index + (1 << 40))
        if member.gender is not None:
            fields[3] = member.gender
        if member.county is not None:
            fields[8] = member.county
        return [[member.cin, *fields, start, end] for start, end in member.spans]

    # ----------------------------------------------------------------------------------- providers
    def _build_directory(self, seed: int, lines_per_month: int) -> None:
        rng = random.Random(stable_int("providers", seed, self.code))
        scale = 1 + min(9, lines_per_month // 50_000)
        counts = {"PC": 14 * scale, "BH": 9 * scale, "CM": 7 * scale, "HOSP": 4 * scale}
        staff_per_org = {"PC": 6, "BH": 6, "CM": 5, "HOSP": 8}
        staff_tax = {
            "PC": "PC_RENDER",
            "BH": "BH_RENDER",
            "CM": "CM_RENDER",
            "HOSP": "HOSP_ATTEND",
        }
        next_npi = self.plan_index * ids.NPI_PER_PLAN
        self.provider_rows: list[list[str]] = []
        self.orgs: dict[str, list[Org]] = {}
        used_names: set[str] = set()

        def new_npi() -> str:
            nonlocal next_npi
            value = ids.npi(next_npi)
            next_npi += 1
            return value

        def place(nine: bool) -> tuple[str, str, str]:
            county = self.counties[rng.randrange(len(self.counties))]
            cities, zips = COUNTY_PLACES.get(county, DEFAULT_PLACES)
            street = (
                f"{rng.randrange(100, 20000)} {rng.choice(STREETS)} {rng.choice(STREET_SUFFIXES)}"
            )
            zip_code = f"{rng.choice(zips)}{rng.randrange(100):02d}"
            if nine:
                zip_code += f"{rng.randrange(10000):04d}"
            return street, rng.choice(cities), zip_code

        def org_name(kind: str) -> str:
            while True:
                name = f"{rng.choice(ORG_WORDS)} {rng.choice(ORG_KINDS[kind])}"
                if rng.random() < 0.25:
                    name += ", Inc."  # exercises RFC 4180 quoting in providers.csv
                if name not in used_names:
                    used_names.add(name)
                    return name
                name += f" {len(used_names)}"
                if name not in used_names:
                    used_names.add(name)
                    return name

        def person_row(npi: str, taxonomy: str, tax_id: str, nine: bool) -> list[str]:
            street, city, zip_code = place(nine)
            firsts = FIRST_NAMES_F if rng.random() < 0.55 else FIRST_NAMES_M
            return [
                npi,
                "1",
                rng.choice(LAST_NAMES),
                rng.choice(firsts),
                taxonomy,
                tax_id,
                street,
                city,
                "CA",
                zip_code,
            ]

        for kind, count in counts.items():
            orgs: list[Org] = []
            for _ in range(count):
                npi = new_npi()
                taxonomy = rng.choice(TAX[f"{kind}_ORG"])
                street, city, zip_code = place(True)
                tax_id = str(rng.randrange(10**8, 10**9))
                self.provider_rows.append(
                    [npi, "2", org_name(kind), "", taxonomy, tax_id, street, city, "CA", zip_code]
                )
                staff = []
                for _ in range(staff_per_org[kind]):
                    s_npi = new_npi()
                    s_tax = rng.choice(TAX[staff_tax[kind]])
                    self.provider_rows.append(person_row(s_npi, s_tax, "", rng.random() < 0.5))
                    staff.append((s_npi, s_tax))
                orgs.append(Org(npi, taxonomy, staff))
            self.orgs[kind] = orgs
        # Solo practitioners bill under their own NPI (entity type 1, with tax id and ZIP+4).
        solos = []
        for _ in range(8 * scale):
            npi = new_npi()
            taxonomy = rng.choice(TAX["PC_SOLO"])
            self.provider_rows.append(
                person_row(npi, taxonomy, str(rng.randrange(10**8, 10**9)), True)
            )
            solos.append(Org(npi, taxonomy, [(npi, taxonomy)]))
        self.orgs["PC"] = self.orgs["PC"] + solos
        # Directory entries that cannot bill (BILLING_PROVIDER_UNKNOWN defects only): a 5-digit ZIP,
        # no tax id, a 7-digit tax id.
        self.incomplete_billing: list[tuple[str, str]] = []
        for variant in ("zip5", "no_tax_id", "short_tax_id"):
            npi = new_npi()
            taxonomy = rng.choice(TAX["PC_ORG"])
            street, city, zip_code = place(variant != "zip5")
            tax_id = {"zip5": str(rng.randrange(10**8, 10**9)), "no_tax_id": ""}.get(
                variant, str(rng.randrange(10**6, 10**7))
            )
            self.provider_rows.append(
                [npi, "2", org_name("PC"), "", taxonomy, tax_id, street, city, "CA", zip_code]
            )
            self.incomplete_billing.append((npi, taxonomy))
        # A billing organisation whose directory row has one field too many: the row cannot be
        # parsed (roster_rejects) and its claims get BILLING_PROVIDER_ON_REJECTED_ROSTER_ROW.
        npi = new_npi()
        taxonomy = rng.choice(TAX["PC_ORG"])
        street, city, zip_code = place(True)
        tax_id = str(rng.randrange(10**8, 10**9))
        self.provider_rows.append(
            [npi, "2", org_name("PC"), "", taxonomy, tax_id, street, city, "CA", zip_code, "X"]
        )
        self.broken_directory_row: tuple[str, str] = (npi, taxonomy)
        self.directory_npis = frozenset(row[0] for row in self.provider_rows)

    def off_directory_npi(self, serial: int, counter: int) -> str:
        """A valid NPI that is in no plan's directory (BILLING_PROVIDER_UNKNOWN)."""
        index = (
            ids.NPI_OFF_DIRECTORY_BASE
            + self.plan_index * 10_000_000
            + (serial % 10) * 1_000_000
            + counter % 1_000_000
        )
        return ids.npi(index % ids.NPI_SPACE)
