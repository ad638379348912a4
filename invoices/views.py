from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def invoice_list(request: HttpRequest) -> HttpResponse:
    """Until invoicing lands (issue 3) the section exists with its empty state."""
    return render(request, "empty_section.html", {"section": "invoices", "title": "Invoices"})
