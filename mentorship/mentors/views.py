"""The mentor's pages: my students, one student's courses and work, and linking by pairing code."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from mentorship.accounts.models import CanvasCredential, User
from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.core.links import canvas_browser_url
from mentorship.people.courses import with_course_labels
from mentorship.sync.models import PairingCode

from . import selectors, services


def canvas_sign_in_url(next_path: str) -> str:
    """ "Sign in with Canvas" that comes back to `next_path` (checked again at the callback)."""
    return reverse("accounts:canvas_start") + "?" + urlencode({"next": next_path})


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _link_context(
    request: HttpRequest,
    assignment: MentorAssignment,
    *,
    error: str = "",
    notice: str = "",
    can_link_now: bool | None = None,
    codes: dict[int, PairingCode] | None = None,
) -> dict[str, Any]:
    """`codes`: the usable pairing codes already read for a whole list (pairing_codes_for_mentor), if any."""
    user = _user(request)
    if can_link_now is None:
        can_link_now = CanvasCredential.objects.filter(user=user).exists()
    label = selectors.link_state_label(assignment)
    if assignment.link_method != LinkMethod.PAIRING_CODE:
        code = None
    elif codes is not None:
        code = codes.get(assignment.pk)
    else:
        code = selectors.pairing_code_for_mentor(user=user, assignment=assignment)
    return {
        "a": assignment,
        "label": label,
        "linked": label == selectors.STATE_LINKED,
        # One state per card: waiting only while the link waits for a code (an expired code fails the link).
        "waiting": label == selectors.STATE_WAITING_FOR_CODE,
        "sign_in_url": canvas_sign_in_url(reverse("mentors:students") + f"#assignment-{assignment.pk}"),
        "code": code,
        "can_link_now": can_link_now,
        "observees_url": f"{canvas_browser_url()}/profile/observees",
        "canvas_base_url": canvas_browser_url(),
        "error": error,
        "notice": notice,
    }


@require_GET
@login_required
@never_cache
def students(request: HttpRequest) -> HttpResponse:
    groups = selectors.assignments_for_mentor(user=request.user)
    can_link_now = CanvasCredential.objects.filter(user=_user(request)).exists()
    # Codes and contacts for every card in one query each, so the page's query count does not grow with the list.
    everything = [*groups.active, *groups.upcoming, *groups.recently_ended]
    services.pairing_card_settle(assignments=[a for a in groups.active if a.link_method == LinkMethod.PAIRING_CODE])
    codes = selectors.pairing_codes_for_mentor(user=request.user, assignments=everything)
    contacts = selectors.coordinator_contacts_for(assignments=everything)

    def card(a: MentorAssignment) -> dict[str, Any]:
        return {
            **_link_context(request, a, can_link_now=can_link_now, codes=codes),
            "contacts": contacts[(a.program_id, a.decided_by_id)],
            "courses": list(a.courses.all()),
        }

    cards = {
        "active": [card(a) for a in groups.active],
        "upcoming": [card(a) for a in groups.upcoming],
        "recently_ended": [card(a) for a in groups.recently_ended],
    }
    # Every card's course names from the cache in one query (the template filter would ask once per card).
    with_course_labels([c for group in cards.values() for one in group for c in one["courses"]])
    return render(
        request,
        "mentors/students.html",
        {"groups": groups, "cards": cards, "recent_days": selectors.RECENTLY_ENDED_DAYS},
    )


@require_GET
@login_required
@never_cache
def student(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = services.assignment_for_mentor_audited(user=request.user, assignment_id=assignment_id, request=request)
    data = services.student_data_view(user=_user(request), assignment=assignment, request=request)
    return render(
        request,
        "mentors/student.html",
        {
            "a": assignment,
            "data": data,
            "sign_in_url": canvas_sign_in_url(request.get_full_path()),
            "label": selectors.link_state_label(assignment),
            "upcoming_days": services.UPCOMING_DAYS,
            "scope_courses": with_course_labels(assignment.courses.all()),
        },
    )


@require_GET
@login_required
@never_cache
def link_status(request: HttpRequest, assignment_id: int) -> HttpResponse:
    """The small fragment htmx polls while a link is awaited; a plain request goes back to the full page."""
    assignment = services.assignment_for_mentor_audited(user=request.user, assignment_id=assignment_id, request=request)
    if not getattr(request, "htmx", False):
        return redirect(reverse("mentors:students") + f"#assignment-{assignment.pk}")
    if assignment.link_method == LinkMethod.PAIRING_CODE:
        services.pairing_card_settle(assignments=[assignment])
    return render(request, "mentors/_link.html", _link_context(request, assignment))


@require_POST
@login_required
def link_now(request: HttpRequest, assignment_id: int) -> HttpResponse:
    """Redeem the mentor's pairing code with their own Canvas token (a real form POST; htmx gets the fragment).

    A second submit (another tab, a double click) finds the link made and says "already linked".
    """
    user = _user(request)
    assignment = services.assignment_for_mentor_audited(user=user, assignment_id=assignment_id, request=request)
    error = notice = ""
    try:
        notice = services.pairing_code_link_now(user=user, assignment=assignment)
    except services.LinkNowError as exc:
        error = str(exc)
    assignment.refresh_from_db()
    if getattr(request, "htmx", False):
        return render(request, "mentors/_link.html", _link_context(request, assignment, error=error, notice=notice))
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect(reverse("mentors:students") + f"#assignment-{assignment.pk}")
