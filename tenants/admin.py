from django.contrib import admin

from tenants.models import Membership, ProviderProfile, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["display_name", "legal_name", "gstin", "state", "status"]
    list_filter = ["status", "state"]
    search_fields = ["display_name", "legal_name", "gstin", "billing_email"]
    inlines = [MembershipInline]


@admin.register(ProviderProfile)
class ProviderProfileAdmin(admin.ModelAdmin):
    list_display = ["legal_name", "gstin", "state"]
