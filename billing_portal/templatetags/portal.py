"""Template filters and tags every page uses (registered as builtins in settings)."""

from decimal import Decimal

from django import template

from billing_portal.lib.money import format_inr

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
}


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
