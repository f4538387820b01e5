from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("sync/_circuit_banner.html", takes_context=True)
def circuit_banner(context: dict[str, Any]) -> dict[str, Any]:
    """The "Canvas work has stopped" banner for coordinators and admins while the circuit is open."""
    from mentorship.sync.circuit import circuit_is_open

    caps = context.get("capabilities")
    show = bool(caps and (caps.is_admin or caps.coordinates)) and circuit_is_open()
    return {"circuit_open": show}


@register.inclusion_tag("sync/_connection_panel.html")
def connection_panel() -> dict[str, Any]:
    """The "Canvas connection" panel for any page: `{% load sync_tags %}{% connection_panel %}`."""
    from mentorship.sync.selectors import connection_status

    return connection_status()


@register.filter
def sync_in_progress(links: Any) -> bool:
    """True while any link still has Canvas work left (the fragment then refreshes itself)."""
    from mentorship.sync.models import ObserverLink

    return any(link.state in ObserverLink.WORK_STATES for link in links or ())
