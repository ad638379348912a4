"""Field validators for Indian tax and address identifiers (messages shown beside the field)."""

from django.core.exceptions import ValidationError

from billing_portal.lib import gst


def _raise_if(problem: str | None) -> None:
    if problem:
        raise ValidationError(problem)


def validate_gstin(value: str) -> None:
    _raise_if(gst.gstin_problem(value))


def validate_pan(value: str) -> None:
    _raise_if(gst.pan_problem(value))


def validate_ifsc(value: str) -> None:
    _raise_if(gst.ifsc_problem(value))


def validate_pin_code(value: str) -> None:
    _raise_if(gst.pin_problem(value))
