from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from billing_portal import views
from tenants import views as tenant_views
from tenants.forms import LockoutAuthenticationForm
from usage import api as usage_api
from usage import token_views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            authentication_form=LockoutAuthenticationForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path(
        "accounts/password_reset/",
        auth_views.PasswordResetView.as_view(
            subject_template_name="emails/password_reset_subject.txt",
            email_template_name="emails/password_reset.txt",
            html_email_template_name="emails/password_reset.html",
        ),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("tenants/", include("tenants.urls")),
    path("billing-profile/", tenant_views.my_billing_profile, name="billing_profile"),
    path("settings/provider/", tenant_views.provider_settings, name="provider_settings"),
    path("invoices/", include("invoices.urls")),
    path("usage/tokens/", token_views.token_list, name="usage_tokens"),
    path(
        "usage/tokens/<int:token_id>/revoke/", token_views.token_revoke, name="usage_token_revoke"
    ),
    path("usage/imports/", include("usage.import_urls")),
    path("usage/", include("usage.plan_urls")),
    path("usage/", include("usage.urls")),
    path("payments/", include("payments.urls")),
    path("exports/", include("exports.urls")),
    path("api/v1/usage/records", usage_api.usage_records, name="api_usage_records"),
    path("django-admin/", admin.site.urls),
]

if settings.RAZORPAY_MODE == "sandbox":
    # The Razorpay-compatible sandbox: never mounted in live mode (production refuses sandbox).
    urlpatterns.append(path("sandbox/razorpay/", include("payments.sandbox.urls")))

handler400 = "billing_portal.views.error_400"
handler403 = "billing_portal.views.error_403"
handler404 = "billing_portal.views.error_404"
