from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def payment_list(request: HttpRequest) -> HttpResponse:
    """Until payments land (issue 5) the section exists with its empty state."""
    return render(request, "empty_section.html", {"section": "payments", "title": "Payments"})
