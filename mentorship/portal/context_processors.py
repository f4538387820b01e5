from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, Any]:
    """What every page's header needs: which sections the viewer may open."""
    from mentorship.accounts.selectors import user_capabilities

    return {
        "portal_name": "Mentor Link",
        "canvas_base_url": settings.CANVAS_BASE_URL,
        "capabilities": user_capabilities(user=request.user) if hasattr(request, "user") else None,
    }
