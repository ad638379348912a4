"""Template filters and tags every page uses (registered as builtins in settings)."""

import datetime
from decimal import Decimal

from django import template
from django.utils.html import format_html

from billing_portal.lib.money import format_inr, plain_decimal

register = template.Library()

# Status -> badge colour; invoice colours follow DESIGN.md (draft grey, pending yellow, sent blue,
# paid green, overdue red, voided dark grey, refunded purple).
BADGE_COLOURS = {
    "draft": "grey",
    "pending": "yellow",
    "sent": "blue",
    "partially_paid": "teal",
    "paid": "green",
    "overdue": "red",
    "voided": "dark",
    "refunded": "purple",
    "disputed": "orange",
    "active": "green",
    "suspended": "red",
    "created": "grey",
    "processing": "yellow",
    "captured": "green",
    "failed": "red",
    "processed": "purple",
    "queued": "grey",
    "running": "blue",
    "done": "green",
}


@register.filter
def plain(value: Decimal) -> str:
    """100, 0.5, 18: a quantity, price or rate without trailing zeros or an exponent."""
    return plain_decimal(value)


@register.filter
def inr(amount: Decimal | int | str | None) -> str:
    """₹12,34,567.00"""
    return format_inr(amount)


@register.inclusion_tag("components/badge.html")
def status_badge(status: str, label: str = "") -> dict[str, str]:
    return {
        "colour": BADGE_COLOURS.get(status, "grey"),
        "label": label or status.replace("_", " ").capitalize(),
        "status": status,
    }


@register.filter
def get_item(mapping: dict, key: str) -> object:
    return mapping.get(key)


@register.simple_tag(takes_context=True)
def status_toggle_query(context: template.Context, status: str) -> str:
    """The current query with ``status`` added to or removed from the selected tabs."""
    query = context["request"].GET.copy()
    chosen = query.getlist("status")
    query.setlist(
        "status", [s for s in chosen if s != status] if status in chosen else [*chosen, status]
    )
    query.pop("page", None)
    return query.urlencode()


@register.simple_tag(takes_context=True)
def sort_link(context: template.Context, key: str, label: str) -> str:
    """A column heading that sorts by ``key``, then reverses on a second click."""
    query = context["request"].GET.copy()
    current = query.get("sort", "")
    new = f"-{key}" if current == key else key
    query["sort"] = new
    query.pop("page", None)
    arrow = " ▲" if current == key else " ▼" if current == f"-{key}" else ""
    return format_html('<a href="?{}" class="sort">{}{}</a>', query.urlencode(), label, arrow)


@register.filter
def split(value: str) -> list[str]:
    return value.split()


@register.filter
def field_named(form: object, name: str) -> object:
    return form[name]  # type: ignore[index]


@register.filter
def period_label(invoice: object) -> str:
    """'Oct 2026' for a whole month, '11 Oct – 31 Oct 2026' otherwise, '—' for none."""
    start, end = getattr(invoice, "period_start", None), getattr(invoice, "period_end", None)
    if start is None or end is None:
        return "—"
    next_day = end + datetime.timedelta(days=1)
    if start.day == 1 and next_day.day == 1 and (start.year, start.month) == (end.year, end.month):
        return start.strftime("%b %Y")
    return f"{start:%d %b} – {end:%d %b %Y}"
