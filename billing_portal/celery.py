import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_portal.settings")

app = Celery("billing_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**kwargs: Any) -> None:
    """Workers and beat log as the web does (settings.LOGGING: request ids, JSON in production)
    instead of Celery's own format; connecting here also stops Celery from taking the root
    logger over."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
