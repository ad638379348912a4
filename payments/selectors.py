"""Reads of the payments page: the payments or refunds a user may see, filtered as its URL says.

The page, its export and an export job all read ``payment_filterset``, so a file holds exactly the
rows the page listed.
"""

import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import QueryDict

from payments.filters import REFUNDS, PaymentFilter
from payments.models import Payment, Refund
from tenants.access import scope_to_user
from tenants.models import Tenant
from tenants.roles import is_staff_member


def payments_for(user: User, kind: str, *, tenant_id: int | None) -> QuerySet[Any]:
    """Every row of ``kind`` the user may see: staff every tenant's, a customer only those of
    ``tenant_id`` (their active organisation; None: none)."""
    rows: QuerySet[Any]
    if kind == REFUNDS:
        rows = scope_to_user(Refund.objects.all(), user, tenant_field="invoice__tenant")
        tenant_column = "invoice__tenant_id"
    else:
        rows = scope_to_user(Payment.objects.all(), user)
        tenant_column = "tenant_id"
    if is_staff_member(user):
        return rows
    return rows.none() if tenant_id is None else rows.filter(**{tenant_column: tenant_id})


def payment_filterset(
    user: User, params: QueryDict, *, kind: str, tenant_id: int | None, today: datetime.date
) -> PaymentFilter:
    return PaymentFilter(
        params or None,
        queryset=payments_for(user, kind, tenant_id=tenant_id),
        kind=kind,
        today=today,
        tenants=Tenant.objects.order_by("display_name").only("id", "display_name")
        if is_staff_member(user)
        else None,
    )
