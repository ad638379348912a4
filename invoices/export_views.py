"""/invoices/export?format=csv|xlsx|pdf&table=invoices|lines&<the list's filters>, and the bulk
ZIP of selected invoices' PDFs.

Small exports answer at once (CSV streamed); larger ones become an ExportJob whose page shows its
progress. Staff need ``invoices.export_invoice``; a customer exports their own organisation's
invoices, exactly those their list shows.
"""

import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_safe

from billing_portal.lib.exports import XLSX_CONTENT_TYPE, csv_lines, write_xlsx
from billing_portal.lib.http import AuthedRequest
from exports.models import ExportJob
from exports.services import EXPORT_PERM, export_job_create
from exports.shortcuts import export_job_redirect
from invoices import exports as ex
from invoices.selectors import invoices_for, list_ordering
from tenants.access import require_staff_perm, tenant_scope
from tenants.roles import is_staff_member

JOB_KINDS = {ex.INVOICES: ExportJob.Kind.INVOICES, ex.LINES: ExportJob.Kind.INVOICE_LINES}


def _attachment(response: HttpResponseBase, filename: str) -> HttpResponseBase:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_safe
def invoice_export(request: AuthedRequest) -> HttpResponseBase:
    fmt = request.GET.get("format", "csv")
    which = request.GET.get("table", ex.INVOICES)
    if fmt not in ex.FORMATS or which not in ex.TABLES:
        return HttpResponseBadRequest("format is csv, xlsx or pdf; table is invoices or lines.")
    if is_staff_member(request.user):
        require_staff_perm(request.user, EXPORT_PERM)
    tenant_id = tenant_scope(request)
    today = timezone.localdate()
    export = ex.invoice_export(
        request.user, request.GET, tenant_id=tenant_id, today=today, which=which
    )
    filterset = export.listing.filterset
    if filterset.is_bound and not filterset.is_valid():
        # The page shows a bad filter and ignores it; a file would silently hold more rows.
        return HttpResponseBadRequest(
            " ".join(str(e) for errs in filterset.errors.values() for e in errs)
        )
    count = export.count()
    if fmt == "pdf" and count > settings.EXPORT_PDF_MAX_ROWS:
        return HttpResponseBadRequest(
            f"A PDF report holds at most {settings.EXPORT_PDF_MAX_ROWS:,} rows and these "
            f"filters match {count:,}: narrow them, or export XLSX."
        )
    name = ex.filename(which, fmt, today)
    inline_max = (
        settings.EXPORT_PDF_INLINE_MAX_ROWS if fmt == "pdf" else settings.EXPORT_INLINE_MAX_ROWS
    )
    if count > inline_max:
        return export_job_redirect(
            request, kind=JOB_KINDS[which], fmt=fmt, tenant_id=tenant_id, row_count=count
        )
    if fmt == "csv":
        response = StreamingHttpResponse(
            csv_lines(export.table, export.rows(as_text=True)),
            content_type="text/csv; charset=utf-8",
        )
        return _attachment(response, name)
    notes = ex.notes(export, request.GET, request.user)
    with tempfile.TemporaryDirectory(prefix="export-") as folder:
        path = Path(folder) / name
        ex.write_file(export, fmt, path, notes=notes)
        content = path.read_bytes()
    content_type = XLSX_CONTENT_TYPE if fmt == "xlsx" else "application/pdf"
    return _attachment(HttpResponse(content, content_type=content_type), name)


def invoice_pdfs_zip(request: AuthedRequest, ids: list[int]) -> HttpResponseBase:
    """The bulk action's ZIP: streamed when few, otherwise a job with a progress page."""
    require_staff_perm(request.user, EXPORT_PERM)
    invoices = ex.pdf_invoices(request.user, ids)
    count = invoices.count()
    if count > settings.EXPORT_ZIP_INLINE_MAX:
        job = export_job_create(
            requester=request.user,
            tenant_id=None,
            kind=ExportJob.Kind.INVOICE_PDFS,
            fmt=ExportJob.Format.ZIP,
            params={"ids": list(invoices.values_list("pk", flat=True))},
            row_count=count,
        )
        return redirect("exports:detail", job_id=job.pk)
    handle = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
    ex.write_pdfs_zip(list(invoices), handle)
    handle.seek(0)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"invoices-{timezone.localdate():%Y%m%d}.zip",
        content_type="application/zip",
    )


def selected_export(request: AuthedRequest, ids: list[int], fmt: str) -> HttpResponseBase:
    """The bulk action's CSV or XLSX of the ticked invoices (those the user may see)."""
    invoices = invoices_for(request.user).filter(pk__in=ids).order_by(*list_ordering(""))
    table = ex.INVOICE_TABLE
    name = f"invoices-selected-{timezone.localdate():%Y%m%d}.{fmt}"
    if fmt == "csv":
        response = StreamingHttpResponse(
            csv_lines(table, table.rows(invoices, as_text=True)),
            content_type="text/csv; charset=utf-8",
        )
        return _attachment(response, name)
    handle = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
    write_xlsx(table, table.rows(invoices), handle)
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=name, content_type=XLSX_CONTENT_TYPE)
