"""Download of the tax invoice PDF (``/invoices/<id>/pdf``): staff and the tenant's customers."""

import logging

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from billing_portal.lib.http import AuthedRequest
from invoices.models import Invoice
from invoices.pdf import PdfRenderError, invoice_pdf, invoice_pdf_filename, issued_pdf
from invoices.selectors import invoices_for
from tenants.access import require_staff_perm

log = logging.getLogger(__name__)


@login_required
@require_GET
def invoice_pdf_download(request: AuthedRequest, invoice_id: int) -> HttpResponse:
    """The current copy (today's payment mark); ``?copy=issued`` the copy as issued, unchanged.

    Another tenant's invoice, and for customers one not yet sent, answers 404 like a missing one.
    A draft is no tax invoice: only those who prepare drafts (billing admins) get its preview."""
    try:
        invoice = invoices_for(request.user).select_related("tenant").get(pk=invoice_id)
    except Invoice.DoesNotExist:
        raise Http404("No such invoice.") from None
    if invoice.status == Invoice.Status.DRAFT:
        require_staff_perm(request.user, "invoices.change_invoice")
    try:
        if request.GET.get("copy") == "issued" and invoice.number:
            pdf = issued_pdf(invoice=invoice)
        else:
            pdf = invoice_pdf(invoice=invoice)
    except PdfRenderError as error:
        log.warning("PDF of invoice %s failed: %s", invoice.pk, error)
        return HttpResponse(
            "The PDF could not be made just now; please try again in a minute.",
            status=503,
            content_type="text/plain; charset=utf-8",
            headers={"Retry-After": "60"},
        )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=invoice_pdf_filename(invoice)
    )
    # The current copy changes with every payment: never serve a stale one from a cache.
    response["Cache-Control"] = "private, no-cache"
    return response
