from django.contrib import admin

from exports.models import ExportJob


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "format", "requester", "tenant", "status", "row_count")
    list_filter = ("status", "kind", "format")
    readonly_fields = [f.name for f in ExportJob._meta.fields]
