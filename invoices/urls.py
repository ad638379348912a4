from django.urls import path

from invoices import export_views, pdf_views, views
from invoices.lifecycle import ACTIONS
from payments import views as payment_views

app_name = "invoices"

urlpatterns = [
    path("", views.invoice_list, name="list"),
    path("new/", views.invoice_create, name="create"),
    path("bulk/", views.invoice_bulk, name="bulk"),
    path("export", export_views.invoice_export, name="export"),
    path("<int:invoice_id>/", views.invoice_detail, name="detail"),
    path("<int:invoice_id>/edit/", views.invoice_edit, name="edit"),
    path("<int:invoice_id>/pdf", pdf_views.invoice_pdf_download, name="pdf"),
    path(
        "<int:invoice_id>/payments/refresh/",
        payment_views.invoice_refresh,
        name="refresh_payments",
    ),
] + [
    # One named URL per action (invoices:send, invoices:void ...), each a POST.
    path(
        f"<int:invoice_id>/{action.replace('_', '-')}/",
        views.invoice_action,
        {"action": action},
        name=action,
    )
    for action in ACTIONS
    if action != "edit"
]
