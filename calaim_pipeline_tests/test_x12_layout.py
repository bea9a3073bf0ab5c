"""The 837 layout table (submission/x12/layout.py) held against pyx12's own map XML for
005010X222A1 (837P) and 005010X223A2 (837I): every element we write exists at that position in
that loop's segment, our maximum length fits the data element's, our usage is not "not used", every
element the guide requires is one we write, and the ISA's fixed-width elements have its length."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest
import pyx12

from calaim_pipeline.submission.x12 import layout
from calaim_pipeline.submission.x12.envelope import IMPLEMENTATION_GUIDE

MAPS = Path(pyx12.__file__).parent / "map"


@cache
def _map(transaction: str) -> ET.Element:
    guide = IMPLEMENTATION_GUIDE[transaction]
    (entry,) = [
        m for m in ET.parse(MAPS / "maps.xml").getroot().iter("map") if m.get("vriic") == guide
    ]
    return ET.parse(MAPS / (entry.text or "").strip()).getroot()


@cache
def _data_elements() -> dict[str, tuple[int, int]]:
    root = ET.parse(MAPS / "dataele.xml").getroot()
    return {
        e.get("ele_num"): (int(e.get("min_len")), int(e.get("max_len")))
        for e in root.iter("data_ele")
    }  # type: ignore[misc]


def _codes(node: ET.Element) -> set[str]:
    return {c.text or "" for c in node.iter("code")}


def _map_segment(transaction: str, segment: layout.Segment) -> ET.Element:
    loops = [lp for lp in _map(transaction).iter("loop") if lp.get("xid") == segment.loop]
    assert loops, f"{transaction}: no loop {segment.loop} in pyx12's map"
    candidates = [s for s in loops[0].findall("segment") if s.get("xid") == segment.seg_id]
    if segment.qualifier is not None and len(candidates) > 1:
        candidates = [
            s
            for s in candidates
            if segment.qualifier in _codes(next(iter(s)) if False else _first(s))
        ]
    assert candidates, (
        f"{transaction}: no {segment.seg_id} ({segment.qualifier}) in loop {segment.loop}"
    )
    return candidates[0]


def _first(segment: ET.Element) -> ET.Element:
    """The segment's first element (or the first part of its first composite)."""
    first = next(c for c in segment if c.tag in ("element", "composite"))
    return first.find("element") if first.tag == "composite" else first  # type: ignore[return-value]


def _node(
    segment: ET.Element, element: layout.Element
) -> tuple[ET.Element | None, ET.Element | None]:
    """(pyx12 element, its composite or None) at our element's position."""
    base = element.ref.split("-")[0]
    if element.part is None:
        return segment.find(f"element[@xid='{base}']"), None
    composite = segment.find(f"composite[@xid='{base}']")
    if composite is None:
        return None, None
    return composite.find(f"element[@xid='{base}-{element.part:02d}']"), composite


def layout_problems(transaction: str) -> list[str]:
    """Every way the layout disagrees with pyx12's map (empty when it agrees)."""
    problems = []
    lengths = _data_elements()
    for segment in layout.LAYOUT:
        if transaction not in segment.transactions:
            continue
        where = f"{transaction} {segment.loop} {segment.seg_id}"
        node = _map_segment(transaction, segment)
        ours = {e.ref for e in segment.elements}
        for element in segment.elements:
            found, composite = _node(node, element)
            if found is None:
                problems.append(f"{where}: {element.ref} is not in the guide")
                continue
            min_len, max_len = lengths[found.findtext("data_ele", "")]
            usage = found.findtext("usage")
            if element.max_len > max_len:
                problems.append(f"{where}: {element.ref} max length {element.max_len} > {max_len}")
            if usage == "N" or (composite is not None and composite.findtext("usage") == "N"):
                problems.append(f"{where}: {element.ref} is not used in the guide")
            if (
                usage == "R"
                and element.usage != "R"
                and (composite is None or composite.findtext("usage") == "R")
            ):
                problems.append(
                    f"{where}: {element.ref} is required by the guide, situational here"
                )
            if segment.seg_id == "ISA" and element.max_len != min_len:
                problems.append(
                    f"{where}: {element.ref} is fixed at {min_len}, not {element.max_len}"
                )
        for child in node:
            if (
                child.tag == "element"
                and child.findtext("usage") == "R"
                and child.get("xid") not in ours
            ):
                problems.append(f"{where}: required {child.get('xid')} is not written")
            if child.tag == "composite" and child.findtext("usage") == "R":
                for part in child.findall("element"):
                    ref = f"{child.get('xid')}-{int(part.get('xid', '0-0').split('-')[1])}"
                    if part.findtext("usage") == "R" and ref not in ours:
                        problems.append(f"{where}: required {ref} is not written")
    return problems


@pytest.mark.parametrize("transaction", ["837P", "837I"])
def test_layout_agrees_with_pyx12_map(transaction: str) -> None:
    assert layout_problems(transaction) == []
