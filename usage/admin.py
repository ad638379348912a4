from django.contrib import admin

from usage.models import (
    IngestToken,
    Meter,
    OneTimeCharge,
    Plan,
    PlanPrice,
    PriceOverride,
    Subscription,
)


class PlanPriceInline(admin.TabularInline):
    model = PlanPrice
    extra = 0


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "monthly_fee", "active"]
    inlines = [PlanPriceInline]


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "unit", "category", "sac_code", "dimension", "active"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["tenant", "plan", "starts_on", "ends_on"]
    list_filter = ["plan"]


@admin.register(PriceOverride)
class PriceOverrideAdmin(admin.ModelAdmin):
    list_display = ["tenant", "meter", "dimension_value", "model", "unit_price"]


@admin.register(OneTimeCharge)
class OneTimeChargeAdmin(admin.ModelAdmin):
    list_display = ["tenant", "description", "quantity", "unit_price", "invoice_line"]
    raw_id_fields = ["invoice_line"]


@admin.register(IngestToken)
class IngestTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "token_hash", "created_at", "last_used_at"]
