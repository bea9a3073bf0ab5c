"""The DHCS simulator: for each 837 file of a built month, the 999 and 277CA DHCS would send.

Seeded and order-independent: whether a claim is rejected, and why, is a hash of (seed, our ISA13,
CLM01), so the same files and seed always give the same answers. Accepted claims get a DHCS ICN
in 2200D ``REF*1K``; rejected ones an STC category/status code from ``codes.REJECTIONS`` and no ICN.
Everything it writes is labelled simulated: ISA15 = ``T`` (test data), file names start with
``SIMULATED_``, and the truth file (what the answers were) sits in ``truth/`` beside them.

Written like every other output: to a temporary name, then renamed (lake.write_text_atomic).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from calaim_pipeline import lake
from calaim_pipeline.responses import codes
from calaim_pipeline.responses.submitted import SubmittedFile, read_837
from calaim_pipeline.responses.x12 import GUIDE_277CA, GUIDE_999, Segments, isa
from calaim_pipeline.settings import DataPaths

SIMULATED_PREFIX = "SIMULATED_"
TRUTH_DIR = "truth"
TRUTH_COLUMNS = (
    "plan_code",
    "file_name",
    "interchange_control_number",
    "claim_id",
    "frequency_code",
    "status",
    "dhcs_icn",
    "stc_codes",
    "response_file",
)


@dataclass(frozen=True)
class Answer:
    claim_id: str
    frequency: str
    accepted: bool
    icn: str
    stc: str  # category:status


@dataclass(frozen=True)
class SimulatedResponse:
    source: str  # our 837 file name
    ack_999: Path
    ca_277: Path | None  # None when the 999 rejected every transaction set
    truth: Path
    claims: int
    rejected: int


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def decide(
    sub: SubmittedFile, seed: int, reject_share: float, when: datetime, rejected_sets: set[str]
) -> list[Answer]:
    """The answer for every claim in the transaction sets the 999 accepts."""
    answers = []
    for tx in sub.sets:
        if tx.st02 in rejected_sets:
            continue  # DHCS sends no 277CA for a rejected transaction set
        for number, claim in enumerate(tx.claims, 1):
            u = _unit(seed, sub.isa13, claim.claim_id, claim.frequency)
            if u < reject_share:
                pick = int(_unit(seed, "reason", sub.isa13, claim.claim_id) * len(codes.REJECTIONS))
                answers.append(
                    Answer(claim.claim_id, claim.frequency, False, "", codes.REJECTIONS[pick].code)
                )
            else:
                icn = f"{when:%y%j}{sub.isa13[-6:]}{int(tx.st02):02d}{number:05d}"
                stc = f"{codes.ACCEPTED_CATEGORY}:{codes.ACCEPTED_STATUS}"
                answers.append(Answer(claim.claim_id, claim.frequency, True, icn, stc))
    return answers


def _envelope(sub: SubmittedFile, out: io.StringIO, control: int, when: datetime, guide: str):
    out.write(
        isa(
            sub.isa_receiver_qualifier,
            sub.isa_receiver,
            sub.isa_sender_qualifier,
            sub.isa_sender,
            when,
            control,
            "T",
        )
    )
    Segments(out).put(
        "GS",
        "FA" if guide == GUIDE_999 else "HN",
        sub.gs_receiver,
        sub.gs_sender,
        f"{when:%Y%m%d}",
        f"{when:%H%M}",
        str(control),
        "X",
        guide,
    )


def write_999(sub: SubmittedFile, control: int, when: datetime, rejected_sets: set[str]) -> str:
    """One 999 for our interchange: AK1 names our GS06, one AK2/IK5 per transaction set."""
    out = io.StringIO()
    _envelope(sub, out, control, when, GUIDE_999)
    seg = Segments(out)
    seg.put("ST", "999", "0001", GUIDE_999)
    seg.put("AK1", "HC", sub.gs06, sub.guide)
    for tx in sub.sets:
        seg.put("AK2", "837", tx.st02, sub.guide)
        if tx.st02 in rejected_sets:
            # A simulated structural error: the first CLM segment's CLM05 composite is invalid.
            seg.put("IK3", "CLM", "25", "2300", "8")
            seg.put("IK4", "5", "1331", "7", "")
            seg.put("IK5", "R", "5")
        else:
            seg.put("IK5", "A")
    accepted = sum(tx.st02 not in rejected_sets for tx in sub.sets)
    total = len(sub.sets)
    code = "A" if accepted == total else "R" if accepted == 0 else "P"
    seg.put("AK9", code, str(total), str(total), str(accepted))
    seg.put("SE", str(seg.count + 1), "0001")
    seg.put("GE", "1", str(control))
    seg.put("IEA", "1", f"{control:09d}")
    return out.getvalue()


def write_277ca(sub: SubmittedFile, answers: Iterable[Answer], control: int, when: datetime) -> str:
    """One 277CA for our interchange: one transaction set per accepted 837 transaction set (its
    BHT03 in 2200B TRN02), one billing provider (2000C) and patient (2000D) per claim, the claim's
    CLM01 in 2200D TRN02 and, if accepted, the ICN in REF*1K."""
    by_claim = {(a.claim_id, a.frequency): a for a in answers}
    out = io.StringIO()
    _envelope(sub, out, control, when, GUIDE_277CA)
    sets = 0
    day, time = f"{when:%Y%m%d}", f"{when:%H%M}"
    for tx in sub.sets:
        answered = [(c, by_claim.get((c.claim_id, c.frequency))) for c in tx.claims]
        answered = [(c, a) for c, a in answered if a is not None]
        if not answered:
            continue
        sets += 1
        st02 = f"{sets:04d}"
        seg = Segments(out)
        seg.put("ST", "277", st02, GUIDE_277CA)
        seg.put("BHT", "0085", "08", f"{control}{st02}", day, time, "TH")
        seg.put("HL", "1", "", "20", "1")
        seg.put(
            "NM1", "AY", "2", sub.receiver_name or "DHCS", "", "", "", "", "46", sub.isa_receiver
        )
        seg.put("TRN", "1", f"{control}{st02}")
        seg.put("DTP", "050", "D8", day)
        seg.put("DTP", "009", "D8", day)
        seg.put("HL", "2", "1", "21", "1")
        seg.put("NM1", "41", "2", tx.submitter_name, "", "", "", "", "46", tx.submitter_id)
        seg.put("TRN", "2", tx.bht03)
        good = [(c, a) for c, a in answered if a.accepted]
        bad = [(c, a) for c, a in answered if not a.accepted]
        total = sum(float(c.charge) for c, _ in answered)
        seg.put("STC", "A1:19:PR", day, "WQ", f"{total:.2f}")
        if good:
            seg.put("QTY", "90", str(len(good)))
        if bad:
            seg.put("QTY", "AA", str(len(bad)))
        if good:
            seg.put("AMT", "YU", f"{sum(float(c.charge) for c, _ in good):.2f}")
        if bad:
            seg.put("AMT", "YY", f"{sum(float(c.charge) for c, _ in bad):.2f}")
        hl = 2
        for claim, answer in answered:
            hl += 1
            seg.put("HL", str(hl), "2", "19", "1")
            seg.put("NM1", "85", "2", claim.billing_name, "", "", "", "", "XX", claim.billing_npi)
            seg.put("TRN", "1", "0")
            seg.put("STC", "A1:19:85", "", "WQ", claim.charge)
            hl += 1
            seg.put("HL", str(hl), str(hl - 1), "PT")
            seg.put(
                "NM1",
                "QC",
                "1",
                claim.patient_last,
                claim.patient_first,
                "",
                "",
                "",
                "MI",
                claim.patient_id,
            )
            seg.put("TRN", "2", claim.claim_id)
            action = "WQ" if answer.accepted else "U"
            seg.put("STC", answer.stc, day, action, claim.charge)
            if answer.accepted:
                seg.put("REF", "1K", answer.icn)
            if claim.service_from:
                if claim.service_from == claim.service_to:
                    seg.put("DTP", "472", "D8", claim.service_from)
                else:
                    seg.put("DTP", "472", "RD8", f"{claim.service_from}-{claim.service_to}")
            else:
                seg.put("DTP", "472", "D8", day)
        seg.put("SE", str(seg.count + 1), st02)
    tail = Segments(out)
    tail.put("GE", str(sets), str(control))
    tail.put("IEA", "1", f"{control:09d}")
    return out.getvalue()


def response_controls(isa13: str) -> tuple[int, int]:
    """The simulator's own ISA13s for its 999 and 277CA answering our interchange: derived from
    ours, so they never repeat for a plan (DHCS's real numbers come from DHCS)."""
    base = (int(isa13) * 2) % 999_999_990
    return base + 1, base + 2


def simulate_file(
    path: Path,
    plan: str,
    out_dir: Path,
    *,
    seed: int = 7,
    reject_share: float = 0.05,
    when: datetime,
    rejected_sets: set[str] | None = None,
) -> SimulatedResponse:
    """Write the 999, the 277CA and the truth file answering one of our 837 files."""
    if not 0 <= reject_share <= 1:
        raise ValueError(f"reject_share {reject_share} is not a share between 0 and 1")
    rejected_sets = rejected_sets or set()
    sub = read_837(path)
    answers = decide(sub, seed, reject_share, when, rejected_sets)
    control_999, control_277 = response_controls(sub.isa13)
    stem = f"{SIMULATED_PREFIX}{path.stem}"
    ack, ca = out_dir / f"{stem}.999", out_dir / f"{stem}.277ca"
    truth = out_dir / TRUTH_DIR / f"{stem}.truth.csv"
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(TRUTH_COLUMNS)
    for a in answers:
        status = "accepted" if a.accepted else "rejected"
        writer.writerow(
            [plan, path.name, sub.isa13, a.claim_id, a.frequency, status, a.icn, a.stc, ca.name]
        )
    lake.write_text_atomic(truth, text.getvalue())
    lake.write_text_atomic(ack, write_999(sub, control_999, when, rejected_sets))
    if answers:
        lake.write_text_atomic(ca, write_277ca(sub, answers, control_277, when))
    return SimulatedResponse(
        path.name,
        ack,
        ca if answers else None,
        truth,
        len(answers),
        sum(not a.accepted for a in answers),
    )


def simulate_month(
    paths: DataPaths,
    plan: str,
    month: str,
    *,
    seed: int = 7,
    reject_share: float = 0.05,
    when: datetime | None = None,
    rejected_sets: set[str] | None = None,
) -> list[SimulatedResponse]:
    """Answer every 837 file the ledger holds for the plan-month, into the plan's response
    landing folder (where `calaim responses ingest` and the sensor pick them up)."""
    from calaim_pipeline.submission import ledger

    names = ledger.month_file_names(paths.lake, plan, month)
    if not names:
        raise ValueError(f"{plan} {month} has no built 837 files to answer")
    folder = paths.submissions / plan / month
    out_dir = paths.responses / plan
    when = (when or datetime.now(UTC)).replace(tzinfo=None, second=0, microsecond=0)
    return [
        simulate_file(
            folder / name,
            plan,
            out_dir,
            seed=seed,
            reject_share=reject_share,
            when=when,
            rejected_sets=rejected_sets,
        )
        for name in sorted(names)
    ]
