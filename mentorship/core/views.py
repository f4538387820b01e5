"""The error pages (handler500, CSRF failure): they must render without the database and without any app."""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database that stopped answering is a 503 with Retry-After (nothing was changed: every service
    writes inside one transaction); anything else the plain 500 page. Neither page touches the database."""
    exc = sys.exc_info()[1]
    if isinstance(exc, OperationalError | InterfaceError):
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = "60"
        return response
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: most often a form left open past the session's end. Say so; nothing was changed."""
    message = (
        "This form has expired (or was sent from another site), so nothing was changed. "
        "Go back, reload the page and try again."
    )
    return HttpResponse(loader.get_template("403.html").render({"message": message}), status=403)
