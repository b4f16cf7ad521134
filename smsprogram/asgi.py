import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsprogram.settings")
application = get_asgi_application()

# The web server runs no system checks: refuse to serve on settings `manage.py check` calls errors.
from reports.checks import refuse_bad_configuration  # noqa: E402

refuse_bad_configuration()
