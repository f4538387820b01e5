"""The production WSGI application with tests/production_urls.py in front (a URL that fails, for the 500 page).

Everything else is what gunicorn serves in production: the same settings module, middleware and storage.
"""

from django.conf import settings

from mentorship.wsgi import application

settings.ROOT_URLCONF = "tests.production_urls"

__all__ = ["application"]
