from django.urls import path

from invoices import views

app_name = "invoices"

urlpatterns = [path("", views.invoice_list, name="list")]
