"""Model fields for money: NUMERIC(14,2) amounts and NUMERIC(20,6) quantities and unit prices."""

from decimal import Decimal
from typing import Any

from django.db import models


def amount_field(verbose_name: str | None = None, **options: Any) -> models.DecimalField:
    """Rupees to the paisa."""
    options.setdefault("default", Decimal("0.00"))
    return models.DecimalField(verbose_name, max_digits=14, decimal_places=2, **options)


def precise_field(verbose_name: str | None = None, **options: Any) -> models.DecimalField:
    """Quantities and unit prices, to six places."""
    return models.DecimalField(verbose_name, max_digits=20, decimal_places=6, **options)
