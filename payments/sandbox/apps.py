from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The Razorpay-compatible sandbox: the demo's and the tests' stand-in for Razorpay."""

    name = "payments.sandbox"
    label = "razorpay_sandbox"
    verbose_name = "Razorpay sandbox"
