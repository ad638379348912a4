"""Mounted at /sandbox/razorpay/ in sandbox mode only: ``v1/...`` answers as
``https://api.razorpay.com/v1/...`` does, so the SDK's base URL is all that differs."""

from django.urls import path, re_path

from payments.sandbox import api, views

app_name = "sandbox"

urlpatterns = [
    path("v1/orders", api.orders, name="orders"),
    path("v1/orders/<str:order_id>", api.order_detail, name="order"),
    path("v1/orders/<str:order_id>/payments", api.order_payments, name="order_payments"),
    path("v1/payments", api.payments, name="payments"),
    path("v1/payments/<str:payment_id>", api.payment_detail, name="payment"),
    path("v1/payments/<str:payment_id>/capture", api.payment_capture, name="payment_capture"),
    path("v1/payments/<str:payment_id>/refund", api.payment_refund, name="payment_refund"),
    path("v1/payments/<str:payment_id>/refunds", api.payment_refunds, name="payment_refunds"),
    path(
        "v1/payments/<str:payment_id>/refunds/<str:refund_id>",
        api.payment_refund_detail,
        name="payment_refund_detail",
    ),
    path("v1/refunds", api.refunds, name="refunds"),
    path("v1/refunds/<str:refund_id>", api.refund_detail, name="refund"),
    re_path(r"^v1/(?P<rest>.*)$", api.unknown),
    path("checkout/<str:order_id>/", views.checkout, name="checkout"),
    path("console/", views.console, name="console"),
    path(
        "console/events/<str:event_id>/redeliver",
        views.console_redeliver,
        name="console_redeliver",
    ),
    path("console/refunds/<str:refund_id>/settle", views.console_settle, name="console_settle"),
]
