"""The portal's URLs plus one that fails, for the production start-up test (tests/core/test_production.py).

Loaded only by tests/production_wsgi.py; production itself never imports it.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from mentorship.urls import handler500
from mentorship.urls import urlpatterns as portal_urlpatterns


def fail(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a deliberate failure for the 500 page")


urlpatterns = [path("__test__/fail", fail), *portal_urlpatterns]

__all__ = ["handler500", "urlpatterns"]
