"""Emails rendered from three templates: NAME_subject.txt, NAME.txt and NAME.html."""

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def build_templated_email(
    name: str, *, to: Sequence[str], context: dict[str, Any]
) -> EmailMultiAlternatives:
    context = {"site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"{name}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{name}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(to),
    )
    message.attach_alternative(render_to_string(f"{name}.html", context), "text/html")
    return message


def send_templated_email(name: str, *, to: Sequence[str], context: dict[str, Any]) -> None:
    build_templated_email(name, to=to, context=context).send()
