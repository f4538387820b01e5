from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from mentorship.core.links import canvas_browser_url

from .help import guide_for


def portal(request: HttpRequest) -> dict[str, Any]:
    """What every page's header needs: which sections the viewer may open."""
    from mentorship.accounts.selectors import user_capabilities

    capabilities = user_capabilities(user=request.user) if hasattr(request, "user") else None
    return {
        "portal_name": "Mentor Link",
        "canvas_base_url": canvas_browser_url(),
        "trial_plain_http": settings.TRIAL_PLAIN_HTTP,
        "capabilities": capabilities,
        "help_guide": guide_for(capabilities),
        "school_contact": settings.SCHOOL_CONTACT,
    }
