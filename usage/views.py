from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Until metering lands (issue 4) the section exists with its empty state."""
    return render(request, "empty_section.html", {"section": "usage", "title": "Usage"})
