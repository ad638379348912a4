from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def payment_list(request: HttpRequest) -> HttpResponse:
    return render(request, "empty_section.html", {"section": "payments", "title": "Payments"})


@login_required
def payment_export(request: HttpRequest) -> HttpResponse:
    return render(request, "empty_section.html", {"section": "payments", "title": "Payments"})
