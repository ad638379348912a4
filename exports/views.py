"""The pages of export jobs: a requester's list, one job's progress, and its download.

A job is its requester's, and staff who may export see any; anyone else gets 404, as for a job
that does not exist. Staff without the export permission (or the one to read what the job holds,
such as payments) get 403.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from billing_portal.lib.http import AuthedRequest, wants_fragment
from exports.models import ExportJob
from exports.services import EXPORT_PERM, may_export
from tenants.access import require_staff_perm
from tenants.roles import is_staff_member

STATUS_COLOURS = {
    "queued": "grey",
    "running": "yellow",
    "done": "green",
    "failed": "red",
    "expired": "grey",
}
PAGE_SIZE = 25
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "zip": "application/zip",
}


def _job_for(request: AuthedRequest, job_id: int) -> ExportJob:
    user = request.user
    job = ExportJob.objects.select_related("requester", "tenant").filter(pk=job_id).first()
    if job is None:
        raise Http404("No such export.")
    if is_staff_member(user):
        if not may_export(user, job.tenant_id, kind=job.kind):
            raise PermissionDenied("Your role cannot do this.")
        return job
    if job.requester_id != user.pk or not may_export(user, job.tenant_id, kind=job.kind):
        raise Http404("No such export.")
    return job


@login_required
@require_safe
def job_list(request: AuthedRequest) -> HttpResponse:
    if is_staff_member(request.user):
        require_staff_perm(request.user, EXPORT_PERM)
    jobs = ExportJob.objects.filter(requester=request.user).select_related("tenant")
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "exports/list.html", {"page": page, "colours": STATUS_COLOURS})


@login_required
@require_safe
def job_detail(request: AuthedRequest, job_id: int) -> HttpResponse:
    job = _job_for(request, job_id)
    context = {"job": job, "colours": STATUS_COLOURS}
    fragment = wants_fragment(request)
    template = "exports/detail.html#export-progress" if fragment else "exports/detail.html"
    return render(request, template, context)


@login_required
@require_safe
def job_download(request: AuthedRequest, job_id: int) -> FileResponse:
    job = _job_for(request, job_id)
    if job.status != ExportJob.Status.DONE or not job.file:
        raise Http404("This export has no file (not ready, failed, or removed).")
    return FileResponse(
        job.file.open("rb"),
        as_attachment=True,
        filename=job.filename,
        content_type=CONTENT_TYPES.get(job.format, "application/octet-stream"),
    )
