"""People pages: search the portal and Canvas, add from Canvas, bulk add by SIS ids, refresh from Canvas."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mentorship.assignments.forms import SisIdsForm
from mentorship.people import selectors, services
from mentorship.people.models import Person

from . import selectors as assignment_selectors


def people_manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not selectors.can_manage_people(user=request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


@people_manager_required
@require_GET
def people_list(request: HttpRequest) -> HttpResponse:
    term = request.GET.get("q", "").strip()
    people = list(selectors.people_search(user=request.user, term=term))
    canvas_results: list[Any] = []
    canvas_error = ""
    if term and request.GET.get("canvas"):
        try:
            found = services.people_search_canvas(term=term)
        except services.PersonError as exc:
            canvas_error = str(exc)
        else:
            known = set(
                Person.objects.filter(canvas_user_id__in=[u.id for u in found]).values_list("canvas_user_id", flat=True)
            )
            canvas_results = [(u, u.id in known) for u in found]
    return render(
        request,
        "people/list.html",
        {
            "people": people,
            "q": term,
            "searched_canvas": bool(term and request.GET.get("canvas")),
            "canvas_results": canvas_results,
            "canvas_error": canvas_error,
        },
    )


@people_manager_required
@require_POST
def person_add(request: HttpRequest) -> HttpResponse:
    raw = request.POST.get("canvas_user_id", "")
    if not raw.isdigit():
        messages.error(request, "Choose a person from the Canvas results.")
        return redirect("people:list")
    try:
        person, created = services.person_add_from_canvas(canvas_user_id=int(raw), actor=request.user, request=request)
    except services.PersonError as exc:
        messages.error(request, str(exc))
        return redirect("people:list")
    messages.success(request, f"{person.label} {'added' if created else 'refreshed'} from Canvas.")
    return redirect("people:detail", pk=person.pk)


@people_manager_required
@require_GET
def person_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = selectors.person_for_user(user=request.user, pk=pk)
    assignments = assignment_selectors.assignments_of_person(user=request.user, person=person)
    return render(request, "people/detail.html", {"person": person, "assignments": assignments})


@people_manager_required
@require_POST
def person_refresh_view(request: HttpRequest, pk: int) -> HttpResponse:
    person = selectors.person_for_user(user=request.user, pk=pk)
    try:
        services.person_refresh(person=person, actor=request.user, request=request)
    except services.PersonError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Refreshed from Canvas.")
    return redirect("people:detail", pk=person.pk)


@people_manager_required
@require_http_methods(["GET", "POST"])
def people_bulk_add(request: HttpRequest) -> HttpResponse:
    form = SisIdsForm(request.POST or None, request.FILES or None)
    rows = None
    if request.method == "POST" and form.is_valid():
        ids = form.ids()
        if not ids:
            form.add_error(None, "Give at least one SIS id, one per line.")
        else:
            rows = services.people_add_by_sis_ids(sis_ids=ids[:2000], actor=request.user, request=request)
            added = sum(1 for r in rows if r.created)
            failed = sum(1 for r in rows if r.error)
            messages.success(request, f"{added} added, {len(rows) - added - failed} already known, {failed} not found.")
    return render(request, "people/bulk_add.html", {"form": form, "rows": rows})
