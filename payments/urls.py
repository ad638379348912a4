from django.urls import path

from payments import list_views, views

app_name = "payments"

urlpatterns = [
    path("", list_views.payment_list, name="list"),
    path("export", list_views.payment_export, name="export"),
    path("razorpay/callback", views.razorpay_callback, name="razorpay_callback"),
    path("razorpay/webhook", views.razorpay_webhook, name="razorpay_webhook"),
]
