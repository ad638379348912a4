"""The standard meters, and usage permissions for the staff groups (frozen lists)."""

from django.db import migrations

from tenants.migration_helpers import grant, revoke

METERS = [
    # code, name, unit, category, SAC, dimension
    ("vcpu_hours", "vCPU-hours", "vCPU-hour", "compute", "998315", ""),
    ("ram_gb_hours", "RAM GB-hours", "GB-hour", "compute", "998315", ""),
    ("block_storage_gb_months", "Block storage GB-months", "GB-month", "storage", "998315", ""),
    ("object_storage_gb_months", "Object storage GB-months", "GB-month", "storage", "998315", ""),
    ("ingress_gb", "Network ingress GB", "GB", "network", "998315", ""),
    ("egress_gb", "Network egress GB", "GB", "network", "998315", ""),
    ("gpu_hours", "GPU-hours", "GPU-hour", "gpu", "998315", "gpu_type"),
]

GROUPS = {
    "Billing admin": [
        "usage.view_meter",
        "usage.change_meter",
        "usage.view_usagerecord",
        "usage.add_usagerecord",
        "usage.view_plan",
        "usage.add_plan",
        "usage.change_plan",
        "usage.view_subscription",
        "usage.add_subscription",
        "usage.change_subscription",
        "usage.view_onetimecharge",
        "usage.add_onetimecharge",
        "usage.view_ingesttoken",
        "usage.add_ingesttoken",
        "usage.change_ingesttoken",
    ],
    "Finance": [
        "usage.view_meter",
        "usage.view_usagerecord",
        "usage.view_plan",
        "usage.view_subscription",
        "usage.view_onetimecharge",
    ],
}


def forwards(apps, schema_editor):
    Meter = apps.get_model("usage", "Meter")
    for code, name, unit, category, sac, dimension in METERS:
        Meter.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "unit": unit,
                "category": category,
                "sac_code": sac,
                "dimension": dimension,
            },
        )
    grant(apps, GROUPS)


def backwards(apps, schema_editor):
    revoke(apps, GROUPS)
    apps.get_model("usage", "Meter").objects.filter(code__in=[m[0] for m in METERS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0001_initial"),
        ("invoices", "0002_staff_permissions"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
