"""Bulk import pages: billing admins upload a file; a Celery job imports it; the page follows."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_http_methods, require_POST

from billing_portal.lib.http import AuthedRequest
from tenants.access import require_staff_perm
from usage import importer
from usage.models import UsageImport

IMPORT_PERM = "usage.add_usagerecord"  # billing admins; finance reads usage but does not add it
PAGE_SIZE = 25
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
STATUS_COLOURS = {"queued": "grey", "running": "yellow", "done": "green", "failed": "red"}


def max_upload_bytes() -> int:
    return int(getattr(settings, "USAGE_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


class UsageImportForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text=(
            "CSV with a header row (tenant_id, meter, resource_id, quantity, window_start, "
            "window_end, idempotency_key; optional resource_name, region, dimensions or "
            "dimension columns such as gpu_type), or JSON lines with the API's fields. "
            "Gzip allowed (.csv.gz, .jsonl.gz)."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.jsonl,.ndjson,.gz"}),
    )

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        self.format = importer.format_from_name(upload.name or "")
        if self.format is None:
            raise forms.ValidationError(
                "Upload a .csv or .jsonl file (gzipped: .csv.gz or .jsonl.gz)."
            )
        limit = max_upload_bytes()
        size = upload.size or 0
        if size > limit:
            raise forms.ValidationError(
                f"The file is {filesizeformat(size)}; the limit is {filesizeformat(limit)}."
            )
        try:
            importer.check_file(upload, name=upload.name or "", fmt=self.format)
        except importer.ImportFileError as error:
            raise forms.ValidationError(str(error)) from None
        return upload


@login_required
@require_http_methods(["GET", "POST"])
def import_list(request: AuthedRequest) -> HttpResponse:
    require_staff_perm(request.user, IMPORT_PERM)
    form = UsageImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        usage_import = importer.usage_import_create(
            upload=form.cleaned_data["file"], fmt=str(form.format), actor=request.user
        )
        messages.success(request, f"{usage_import.original_name} was uploaded and is queued.")
        return redirect("usage_imports:detail", import_id=usage_import.pk)
    page = Paginator(
        UsageImport.objects.select_related("uploaded_by").order_by("-created_at", "-pk"),
        PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "usage/import.html",
        {
            "form": form,
            "page": page,
            "colours": STATUS_COLOURS,
            "max_bytes": max_upload_bytes(),
        },
    )


@login_required
def import_detail(request: AuthedRequest, import_id: int) -> HttpResponse:
    require_staff_perm(request.user, IMPORT_PERM)
    usage_import = get_object_or_404(
        UsageImport.objects.select_related("uploaded_by"), pk=import_id
    )
    finished = usage_import.status in (UsageImport.Status.DONE, UsageImport.Status.FAILED)
    context = {
        "imp": usage_import,
        "colours": STATUS_COLOURS,
        "finished": finished,
        "percent": (
            100
            if usage_import.status == UsageImport.Status.DONE
            else int(100 * usage_import.bytes_read / usage_import.bytes_total)
            if usage_import.bytes_total
            else 0
        ),
        "resumable": importer.usage_import_resumable(usage_import),
    }
    template = "usage/import.html#import-progress" if request.htmx else "usage/import.html"
    return render(request, template, context)


@login_required
def import_rejects(request: AuthedRequest, import_id: int) -> FileResponse:
    require_staff_perm(request.user, IMPORT_PERM)
    usage_import = get_object_or_404(UsageImport, pk=import_id)
    rejects = usage_import.rejects_file
    if not usage_import.rejected or not rejects or not rejects.storage.exists(rejects.name or ""):
        raise Http404("This import has no rejected lines.")
    return FileResponse(
        rejects.open("rb"),
        as_attachment=True,
        filename=f"usage-import-{usage_import.pk}-rejects.csv",
        content_type="text/csv",
    )


@login_required
@require_POST
def import_resume(request: AuthedRequest, import_id: int) -> HttpResponse:
    require_staff_perm(request.user, IMPORT_PERM)
    usage_import = get_object_or_404(UsageImport, pk=import_id)
    if importer.usage_import_resume(usage_import=usage_import, actor=request.user):
        messages.success(request, "The import is queued again; it carries on where it stopped.")
    else:
        messages.error(request, "This import is not failed or stalled: it was not queued again.")
    return redirect("usage_imports:detail", import_id=usage_import.pk)
