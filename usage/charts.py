"""The usage chart, drawn on the server as SVG geometry for ``templates/usage/_chart.svg``.

Small multiples: one panel per category and unit (Compute · vCPU-hour, Compute · GB-hour,
Storage · GB-month, ...), each with its own y-axis in its own unit, and the category's meters
stacked in it. Quantities of different units are never drawn on one axis or added together.

Only presentation attributes (fill, stroke, font-size) are used, never ``style``: the page's
Content-Security-Policy has no 'unsafe-inline'. Coordinates are floats: they are pixels, not money.
"""

import datetime
import math
from dataclasses import dataclass, field
from decimal import Decimal

from usage.models import Meter
from usage.selectors import CATEGORY_LABELS, ZERO, bucket_start, format_quantity

WIDTH = 1200.0
GAP = 40.0
PANEL_HEIGHT = 210.0
PLOT_LEFT = 70.0  # room for the y-axis labels
PLOT_TOP = 52.0  # title and legend rows
PLOT_HEIGHT = 122.0
CHAR_WIDTH = 6.4  # an estimate for the 12px legend text (SVG text cannot be measured here)

# Each category keeps one hue; its meters take shades of it.
PALETTE = {
    "compute": ("#1f4e8c", "#7aa2d6", "#b7cdea"),
    "storage": ("#107569", "#5fbfab", "#a6e3d5"),
    "network": ("#b54708", "#f1a06b", "#f8cfae"),
    "gpu": ("#5925dc", "#a08bf0", "#cfc4fa"),
}
PER = {"day": "per day", "week": "per week", "month": "per month"}


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    fill: str
    title: str


@dataclass(frozen=True)
class Tick:
    pos: str
    label: str


@dataclass(frozen=True)
class LegendItem:
    x: str
    fill: str
    label: str

    @property
    def text_x(self) -> str:
        return _px(float(self.x) + 15)


@dataclass
class Panel:
    category: str
    unit: str
    x: str = "0"
    y: str = "0"
    width: str = "0"
    plot_width: str = "0"
    plot_right: str = "0"
    title: str = ""
    caption: str = ""
    legend: list[LegendItem] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)


@dataclass
class Chart:
    width: str
    height: str
    bucket: str
    panels: list[Panel]
    description: str
    # Where every panel's plot sits, for the axis lines and labels the template draws.
    plot_left: str = f"{PLOT_LEFT:.1f}"
    plot_bottom: str = f"{PLOT_TOP + PLOT_HEIGHT:.1f}"
    axis_label_y: str = f"{PLOT_TOP + PLOT_HEIGHT + 17:.1f}"
    y_label_x: str = f"{PLOT_LEFT - 8:.1f}"

    @property
    def title(self) -> str:
        return {"day": "Daily", "week": "Weekly", "month": "Monthly"}[self.bucket] + " usage"


def _px(value: float) -> str:
    return f"{value:.1f}"


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above ``value``: round gridline labels."""
    if value <= 0:
        return Decimal(1)
    exponent = math.floor(math.log10(value))
    base = Decimal(10) ** exponent
    for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        if value <= step * base:
            return (step * base).normalize()
    return Decimal(10) * base


def buckets(start: datetime.date, end: datetime.date, bucket: str) -> list[datetime.date]:
    days = []
    day = bucket_start(start, bucket)
    while day <= end:
        days.append(day)
        if bucket == "day":
            day += datetime.timedelta(days=1)
        elif bucket == "week":
            day += datetime.timedelta(days=7)
        else:
            day = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return days


def _day_label(day: datetime.date, bucket: str, *, year: bool = False) -> str:
    if bucket == "month":
        return f"{day:%b %Y}"
    return f"{day.day} {day:%b}" + (f" {day:%Y}" if year else "")


def build_chart(
    series: dict[int, dict[datetime.date, Decimal]],
    meters: dict[int, Meter],
    start: datetime.date,
    end: datetime.date,
    bucket: str,
) -> Chart | None:
    """Panels for every (category, unit) with usage between ``start`` and ``end``; None if none."""
    slots = buckets(start, end, bucket)
    if not slots:
        return None
    groups: dict[tuple[str, str], list[Meter]] = {}
    order = {code: i for i, code in enumerate(Meter.Category.values)}
    for meter in sorted(meters.values(), key=lambda m: (order.get(m.category, 99), m.pk)):
        if any(series.get(meter.pk, {}).values()):
            groups.setdefault((meter.category, meter.unit), []).append(meter)
    if not groups:
        return None

    columns = 1 if len(groups) == 1 else 2
    panel_width = (WIDTH - GAP * (columns - 1)) / columns
    plot_width = panel_width - PLOT_LEFT - 8
    slot = plot_width / len(slots)
    bar_width = max(slot * (0.72 if len(slots) <= 62 else 0.88), 1.0)
    tick_every = max(1, math.ceil(len(slots) / 6))
    ticks = set(range(0, len(slots), tick_every))
    if len(slots) - 1 - max(ticks) >= max(1, tick_every / 2):
        ticks.add(len(slots) - 1)  # the last bucket too, unless it would crowd the one before
    panels = []
    for index, ((category, unit), members) in enumerate(groups.items()):
        shades = PALETTE.get(category, ("#475467", "#98a2b3", "#d0d5dd"))
        stacks = [
            sum((series.get(m.pk, {}).get(day, ZERO) for m in members), ZERO) for day in slots
        ]
        top = nice_ceiling(max(stacks))
        scale = PLOT_HEIGHT / float(top)
        panel = Panel(
            category=category,
            unit=unit,
            x=_px((index % columns) * (panel_width + GAP)),
            y=_px((index // columns) * PANEL_HEIGHT),
            width=_px(panel_width),
            plot_width=_px(plot_width),
            plot_right=_px(PLOT_LEFT + plot_width),
            title=CATEGORY_LABELS.get(category, category),
            caption=f"{unit} {PER[bucket]}",
        )
        legend_x = PLOT_LEFT
        for position, meter in enumerate(members):
            total = sum(series.get(meter.pk, {}).values(), ZERO)
            label = f"{meter.name}: {format_quantity(total)} {unit}"
            panel.legend.append(LegendItem(_px(legend_x), shades[position % 3], label))
            legend_x += 16 + len(label) * CHAR_WIDTH + 14
        for fraction in (Decimal(0), Decimal("0.5"), Decimal(1)):
            panel.y_ticks.append(
                Tick(
                    _px(PLOT_TOP + PLOT_HEIGHT - float(fraction) * PLOT_HEIGHT),
                    format_quantity(top * fraction),
                )
            )
        for position, day in enumerate(slots):
            if position in ticks:
                panel.x_ticks.append(
                    Tick(_px(PLOT_LEFT + slot * (position + 0.5)), _day_label(day, bucket))
                )
            base = PLOT_TOP + PLOT_HEIGHT
            for shade, meter in enumerate(members):
                quantity = series.get(meter.pk, {}).get(day, ZERO)
                if not quantity:
                    continue
                height = max(float(quantity) * scale, 0.75)
                base -= height
                panel.bars.append(
                    Bar(
                        x=_px(PLOT_LEFT + slot * position + (slot - bar_width) / 2),
                        y=_px(base),
                        width=_px(bar_width),
                        height=_px(height),
                        fill=shades[shade % 3],
                        title=f"{_day_label(day, bucket, year=True)} · {meter.name}: "
                        f"{format_quantity(quantity)} {unit}",
                    )
                )
        panels.append(panel)
    rows = math.ceil(len(panels) / columns)
    names = ", ".join(f"{p.title} in {p.unit}" for p in panels)
    return Chart(
        width=_px(WIDTH),
        height=_px(rows * PANEL_HEIGHT),
        bucket=bucket,
        panels=panels,
        description=f"Usage {PER[bucket]} from {start:%d %b %Y} to {end:%d %b %Y}: {names}.",
    )
