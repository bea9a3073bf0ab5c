"""Inline SVG charts drawn in Python: no JavaScript, no fonts or files fetched, readable offline.

Every text and attribute that comes from data (labels, titles, values, colours) is escaped here,
so the pages embed the SVG as Markup under autoescape without escaping it twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

PALETTE = ("#1f5fa8", "#d9822b", "#2e8b57", "#8e44ad")
THRESHOLD_COLOUR = "#cf222e"
AXIS = "#8c959f"
GRID = "#e6e8eb"
TEXT = "#3d444d"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10 if value >= 1 else 1.0
    if value < 1:
        for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0):
            if value <= step:
                return step
    for factor in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return value


def _frame(chart_id: str, title: str, width: int, height: int, body: list[str]) -> str:
    return (
        f'<svg class="chart" data-chart="{escape(chart_id)}" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    fmt: Callable[[float], str],
    *,
    threshold: tuple[str, float] | None = None,
    y_max: float | None = None,
    bars: bool = False,
    width: int = 460,
    height: int = 230,
) -> str:
    """Values per month as lines with markers (or as bars for one series); an optional threshold line."""
    left, right, top, bottom = 62, 14, 14, 46 if len(series) > 1 or threshold else 30
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, vs in series for v in vs if v is not None]
    if threshold:
        values.append(threshold[1])
    top_value = y_max if y_max is not None else _nice_max(max(values, default=0) * 1.1)
    n = max(len(labels), 1)
    step = plot_w / n
    body: list[str] = []

    def y(v: float) -> float:
        return top + plot_h - (v / top_value) * plot_h if top_value else top + plot_h

    for i in range(5):
        tick = top_value * i / 4
        ty = y(tick)
        body.append(
            f'<line x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" stroke="{GRID}"/>'
        )
        body.append(
            f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="11" fill="{TEXT}">{escape(fmt(tick))}</text>'
        )
    body.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{AXIS}"/>'
    )
    for i, label in enumerate(labels):
        cx = left + step * (i + 0.5)
        body.append(
            f'<text x="{cx:.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="11" fill="{TEXT}">{escape(label)}</text>'
        )
    for s_index, (name, vs) in enumerate(series):
        colour = PALETTE[s_index % len(PALETTE)]
        if bars:
            bar_w = step * 0.55
            for i, v in enumerate(vs):
                if v is None:
                    continue
                x = left + step * (i + 0.5) - bar_w / 2
                h = max(top + plot_h - y(v), 1.0)
                body.append(
                    f'<rect class="mark" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                    f"<title>{escape(labels[i])}: {escape(fmt(v))}</title></rect>"
                )
                body.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - h - 4:.1f}" text-anchor="middle" font-size="10" fill="{TEXT}">{escape(fmt(v))}</text>'
                )
            continue
        points = [
            (left + step * (i + 0.5), y(v), v, labels[i]) for i, v in enumerate(vs) if v is not None
        ]
        if len(points) > 1:
            path = " ".join(
                f"{'M' if k == 0 else 'L'}{px:.1f},{py:.1f}"
                for k, (px, py, _, _) in enumerate(points)
            )
            body.append(
                f'<path class="mark" d="{path}" fill="none" stroke="{colour}" stroke-width="2.2"/>'
            )
        for px, py, v, label in points:
            body.append(
                f'<circle class="mark" cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}">'
                f"<title>{escape(name)} {escape(label)}: {escape(fmt(v))}</title></circle>"
            )
    legend: list[tuple[str, str, bool]] = []
    if len(series) > 1:
        legend += [(name, PALETTE[i % len(PALETTE)], False) for i, (name, _) in enumerate(series)]
    if threshold:
        name, value = threshold
        ty = y(min(value, top_value))
        body.append(
            f'<line x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" stroke="{THRESHOLD_COLOUR}" stroke-dasharray="5 4" stroke-width="1.5"/>'
        )
        legend.append((name, THRESHOLD_COLOUR, True))
    x = left
    for name, colour, dashed in legend:
        ly = height - 10
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        body.append(
            f'<line x1="{x}" y1="{ly - 4}" x2="{x + 18}" y2="{ly - 4}" stroke="{colour}" stroke-width="2.5"{dash}/>'
        )
        body.append(
            f'<text x="{x + 23}" y="{ly}" font-size="11" fill="{TEXT}">{escape(name)}</text>'
        )
        x += 30 + 6.5 * len(name)
    return _frame(chart_id, title, width, height, body)


def bar_chart(
    chart_id: str,
    title: str,
    items: Sequence[tuple[str, float, str]],
    *,
    colours: Sequence[str] | None = None,
    width: int = 460,
    empty_text: str = "nothing to show",
) -> str:
    """Horizontal bars: (label, value, value text) per item, largest first as given."""
    row_h, left, right, top = 22, 210, 70, 8
    height = top * 2 + row_h * max(len(items), 1)
    body: list[str] = []
    if not items:
        body.append(
            f'<text class="empty" x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle" font-size="12" fill="{TEXT}">{escape(empty_text)}</text>'
        )
        return _frame(chart_id, title, width, height, body)
    top_value = max(v for _, v, _ in items) or 1.0
    plot_w = width - left - right
    for i, (label, value, text) in enumerate(items):
        y = top + i * row_h
        w = max(plot_w * value / top_value, 2.0)
        colour = escape(colours[i] if colours else PALETTE[0])  # callers pass colours in
        body.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="11" fill="{TEXT}">{escape(label)}</text>'
        )
        body.append(
            f'<rect class="mark" x="{left}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" rx="2" fill="{colour}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
        )
        body.append(
            f'<text x="{left + w + 6:.1f}" y="{y + 15}" font-size="11" fill="{TEXT}">{escape(text)}</text>'
        )
    return _frame(chart_id, title, width, height, body)
