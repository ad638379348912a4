"""What a list's export view answers: the file at once, or, for more than EXPORT_INLINE_MAX_ROWS
rows, an export job and a redirect to its page."""

import tempfile

from django.conf import settings
from django.http import FileResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect

from billing_portal.lib.exports import XLSX_CONTENT_TYPE, Export, csv_lines, write_xlsx
from billing_portal.lib.http import AuthedRequest
from exports.services import export_job_create, params_of


def export_job_redirect(
    request: AuthedRequest, *, kind: str, fmt: str, tenant_id: int | None, row_count: int
) -> HttpResponseRedirect:
    """Queue a job that runs this request's export again (its URL parameters, the requester's
    tenant scope) and send the browser to the job's page."""
    job = export_job_create(
        requester=request.user,
        tenant_id=tenant_id,
        kind=kind,
        fmt=fmt,
        params=params_of(request.GET),
        row_count=row_count,
    )
    return redirect("exports:detail", job_id=job.pk)


def export_response(
    request: AuthedRequest,
    export: Export,
    *,
    kind: str,
    fmt: str,
    tenant_id: int | None,
    filename: str,
) -> HttpResponseBase:
    """A CSV (streamed) or XLSX of the export, or a job for it when it is too large to answer
    inline."""
    count = export.count()
    if count > settings.EXPORT_INLINE_MAX_ROWS:
        return export_job_redirect(
            request, kind=kind, fmt=fmt, tenant_id=tenant_id, row_count=count
        )
    response: HttpResponseBase
    if fmt == "csv":
        response = StreamingHttpResponse(
            csv_lines(export.table, export.rows(as_text=True)),
            content_type="text/csv; charset=utf-8",
        )
    else:
        handle = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
        write_xlsx(export.table, export.rows(), handle)
        handle.seek(0)
        response = FileResponse(handle, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
