"""Health probes answered before Host validation, so a probe works whatever ALLOWED_HOSTS says.

Compose, systemd and load balancers probe the portal by address (`http://127.0.0.1:8000/healthz/live`), not by the
school's host name, and Django would answer 400 to a Host outside ALLOWED_HOSTS. This middleware sits right after
the security-header middlewares (it needs nothing else) and answers the probe paths itself. A request that carries
a session cookie from elsewhere goes on through the normal stack instead, so a signed-in administrator's browser can
read the detailed answer (and Host is checked for it as for any page).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

PROBE_PATHS = {"/healthz", "/healthz/live", "/healthz/ready"}


def is_local_caller(request: HttpRequest) -> bool:
    """A caller on this machine, not relayed by a proxy: loopback REMOTE_ADDR and no forwarding header.

    A reverse proxy on the same host connects from 127.0.0.1 too; every common proxy adds X-Forwarded-For (or
    Forwarded), which is why their absence is part of the test (docs/operations.md asks the proxy to set it).
    """
    if request.META.get("HTTP_X_FORWARDED_FOR") or request.META.get("HTTP_FORWARDED"):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


class HealthProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info not in PROBE_PATHS or request.method not in {"GET", "HEAD"}:
            return self.get_response(request)
        if settings.SESSION_COOKIE_NAME in request.COOKIES and not is_local_caller(request):
            return self.get_response(request)
        from django.urls import resolve

        match = resolve(request.path_info)
        response: HttpResponse = match.func(request)
        return response
