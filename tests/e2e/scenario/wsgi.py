"""gunicorn's entry for the scenario: the project's own WSGI application, with ``/static/`` served
in front of it, as a proxy would.

The stack runs the embedded default's settings (production refuses the Razorpay sandbox), where
only runserver serves static files; production's WhiteNoise middleware is not installed. Without
this, Chromium would get the pages without their CSS and scripts (the sandbox's checkout, htmx).
"""

from django.conf import settings
from whitenoise import WhiteNoise

from billing_portal.wsgi import application as portal

application = WhiteNoise(portal, root=settings.STATICFILES_DIRS[0], prefix=settings.STATIC_URL)
