"""Server-rendered SVG line charts: no JavaScript, no CDN, readable without scripts and printable."""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup, escape

PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#0a7d8c")
WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 14, 48


@dataclass
class Series:
    label: str
    points: dict[str, float]  # period (YYYY-MM) -> value
    colour: str
    dashed: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 2.5, 5, 10, 12, 24, 48, 72, 96, 120, 168, 240, 336, 480, 720, 1000, 2000, 5000):
        if value <= step:
            return float(step)
    return float(int(value * 1.1) + 1)


def line_chart(title: str, periods: list[str], series: list[Series], unit: str = "h") -> Markup:
    """A chart of `series` over `periods`; each point carries a tooltip with its value and sample size."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_max(max([v for s in series for v in s.points.values()] or [0]))

    def x(i: int) -> float:
        return LEFT + (plot_w * (i + 0.5) / max(len(periods), 1))

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * (v / top)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for k in range(5):  # horizontal grid and the value axis
        v = top * k / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" class="tick" text-anchor="end">{v:g}{unit}</text>'
        )
    for i, period in enumerate(periods):
        parts.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" class="tick" text-anchor="middle">{escape(period)}</text>'
        )
    for s in series:
        coords = [(x(i), y(s.points[p]), p) for i, p in enumerate(periods) if p in s.points]
        if len(coords) > 1:
            path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy, _ in coords)
            dash = ' stroke-dasharray="5 4"' if s.dashed else ""
            parts.append(f'<polyline points="{path}" fill="none" stroke="{s.colour}" stroke-width="2"{dash}/>')
        for cx, cy, p in coords:
            n = s.counts.get(p)
            tip = f"{s.label} {p}: {s.points[p]:g}{unit}" + (f" (n={n})" if n is not None else "")
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{s.colour}"><title>{escape(tip)}</title></circle>'
            )
    lx = LEFT
    for s in series:  # legend under the axis
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        parts.append(
            f'<line x1="{lx}" x2="{lx + 18}" y1="{HEIGHT - 10}" y2="{HEIGHT - 10}" stroke="{s.colour}" '
            f'stroke-width="2"{dash}/><text x="{lx + 22}" y="{HEIGHT - 6}" class="legend">'
            f"{escape(s.label)}</text>"
        )
        lx += 30 + 7 * len(s.label)
    if not any(s.points for s in series):
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="empty">'
            "No closed work in this period</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def lead_time_charts(rows: list[dict], periods: list[str], key: str | None) -> list[tuple[str, Markup]]:
    """One chart per value of `key` (stage) or a single one (end to end): p50 solid, p90 dashed, per centre."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[key] if key else "End to end", []).append(row)
    centres = sorted({r["centre"] for r in rows})
    charts = []
    for name, items in sorted(groups.items()):
        series = []
        for i, centre in enumerate(centres):
            mine = [r for r in items if r["centre"] == centre]
            colour = PALETTE[i % len(PALETTE)]
            counts = {r["period"]: r["count"] for r in mine}
            series.append(
                Series(f"{centre} median", {r["period"]: r["p50_hours"] for r in mine}, colour, False, counts)
            )
            series.append(Series(f"{centre} p90", {r["period"]: r["p90_hours"] for r in mine}, colour, True, counts))
        title = name if not key else f"Stage: {name.replace('_', ' ')}"
        charts.append((title, line_chart(f"Lead time, {title} (hours)", periods, series)))
    return charts
