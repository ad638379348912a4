"""Ingest tokens for billing admins: issue (the raw value is shown once), list, revoke."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from billing_portal.lib.http import AuthedRequest
from tenants.access import require_staff_perm
from usage import services
from usage.models import IngestToken


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="Which system sends with it, e.g. “metering-prod-mumbai”."
    )


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: AuthedRequest) -> HttpResponse:
    require_staff_perm(request.user, "usage.view_ingesttoken")
    form = TokenForm(request.POST or None)
    raw = None
    if request.method == "POST":
        require_staff_perm(request.user, "usage.add_ingesttoken")
        if form.is_valid():
            _, raw = services.ingest_token_create(
                name=form.cleaned_data["name"], actor=request.user
            )
            form = TokenForm()
    return render(
        request,
        "usage/tokens.html",
        {
            "tokens": IngestToken.objects.select_related("created_by"),
            "form": form,
            "raw": raw,
            "can_manage": request.user.has_perm("usage.change_ingesttoken"),
        },
    )


@login_required
@require_POST
def token_revoke(request: AuthedRequest, token_id: int) -> HttpResponse:
    require_staff_perm(request.user, "usage.change_ingesttoken")
    token = get_object_or_404(IngestToken, pk=token_id)
    services.ingest_token_revoke(token=token, actor=request.user)
    messages.success(request, f"{token.name} is revoked: batches sent with it now answer 401.")
    return redirect("usage_tokens")
