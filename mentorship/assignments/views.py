"""Coordinator pages: the assignment list, create, detail and decisions.

Bulk decisions are in bulk_views, the CSV import pages in import_views, programs and roles in program_views, the
dashboard in the portal.

Every object is loaded through a selector (404 outside the coordinator's programs); changes are POST only and go
through services; every action ends with a message. htmx is an enhancement: each fragment endpoint has a plain
page that does the same without JavaScript.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mentorship.accounts.models import User
from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from mentorship.people.selectors import people_matching

from . import selectors, services
from .forms import (
    AssignmentCreateForm,
    AssignmentEditForm,
    BulkForm,
    DecisionForm,
    ListFilterForm,
    ReasonForm,
    default_dates,
)
from .models import AssignmentCourse, MentorAssignment
from .selectors import programs_for_coordinator

PICKER_LIMIT = 20
# sync's ObserverLink.WORK_STATES, by value (the assignments app sits below sync and does not import it).
_WORK = ("pending", "linking", "unlinking")
COURSE_CACHE_SECONDS = 300


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def coordinator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Coordinator pages answer 404 to anyone who coordinates no program (the same as a page that does not exist)."""

    @functools.wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not programs_for_coordinator(user=_user(request)).exists():
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _user(request).is_portal_admin:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


# --- list and bulk ---------------------------------------------------------------------------------------------


def _filters_from(form: ListFilterForm) -> selectors.ListFilters:
    if not form.is_valid():
        return selectors.ListFilters()
    d = form.cleaned_data
    return selectors.ListFilters(
        program=d["program"].pk if d.get("program") else None,
        status=d.get("status") or "",
        link_state=d.get("link_state") or "",
        mentor=d.get("mentor"),
        student=d.get("student"),
        starts_from=d.get("starts_from"),
        starts_to=d.get("starts_to"),
        ends_from=d.get("ends_from"),
        ends_to=d.get("ends_to"),
        attention=bool(d.get("attention")),
        q=d.get("q") or "",
        sort=d.get("sort") or "newest",
    )


def list_queryset(user: User, query: QueryDict) -> tuple[ListFilterForm, QuerySet[MentorAssignment]]:
    """The list's filter form and the assignments it selects, for the list and for "approve all matching"."""
    programs = list(programs_for_coordinator(user=user))
    form = ListFilterForm(query or None, programs=programs_for_coordinator(user=user))
    # The menu from the programs already loaded (the field's own choices would query them again, with a cursor).
    form.fields["program"].choices = [("", "All programs"), *((p.pk, p.name) for p in programs)]  # type: ignore[attr-defined]
    filters = _filters_from(form) if query else selectors.ListFilters()
    return form, selectors.assignments_filtered(user=user, filters=filters, program_ids=[p.pk for p in programs])


@coordinator_required
@require_GET
def assignment_list(request: HttpRequest) -> HttpResponse:
    form, qs = list_queryset(_user(request), request.GET)
    try:
        page_number = int(request.GET.get("page", "1"))
    except ValueError:
        page_number = 1
    page = selectors.assignments_page(
        qs=qs, page=page_number, after=request.GET.get("after", ""), before=request.GET.get("before", "")
    )
    query = request.GET.copy()
    for position in ("page", "after", "before"):
        query.pop(position, None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "filtered": any(v for k, v in request.GET.items() if k not in ("page", "sort", "after", "before")),
        "bulk_form": BulkForm(),
    }
    template = "assignments/_results.html" if getattr(request, "htmx", False) else "assignments/list.html"
    return render(request, template, context)


# --- create ----------------------------------------------------------------------------------------------------


def _people_matching(term: str) -> list[Any]:
    """The create form's pickers: people_matching, from two characters on, the first PICKER_LIMIT by name, plus one
    more when there are more (the picker then says "the first 20", not "one of 20")."""
    term = term.strip()
    if len(term) < 2:
        return []
    return list(people_matching(term).order_by("sortable_name", "name", "id")[: PICKER_LIMIT + 1])


def student_courses(student_id: int | None) -> dict[str, tuple[int, str, str]] | None:
    """The student's current Canvas courses {id: (id, sis id, name)}, cached briefly; None when Canvas could not be
    asked (the picker says so, rather than "no courses")."""
    from mentorship.people.models import Person
    from mentorship.people.services import lookup_client

    if not student_id:
        return {}
    key = f"assignments:student-courses:{student_id}"
    cached = cache.get(key)
    if cached is not None:
        return dict(cached)
    person = Person.objects.filter(pk=student_id).first()
    if person is None:
        return {}
    try:
        courses = {
            str(c.id): (c.id, c.sis_course_id or "", c.name)
            for c in lookup_client().list_user_courses(person.canvas_user_id, state=["available"])
        }
    except Exception:  # the page says "Canvas could not be reached" and offers all-courses scope
        return None
    cache.set(key, courses, COURSE_CACHE_SECONDS)
    return courses


@coordinator_required
@require_GET
def person_options(request: HttpRequest) -> HttpResponse:
    """htmx: <option>s for a person picker (the plain page does the same with its Search button)."""
    field = request.GET.get("field", "mentor")
    term = request.GET.get(f"{field}_q", "") or request.GET.get("q", "")
    found = _people_matching(term)
    context = {"people": found[:PICKER_LIMIT], "more": len(found) > PICKER_LIMIT, "term": term}
    return render(request, "assignments/_person_options.html", context)


@coordinator_required
@require_GET
def course_options(request: HttpRequest) -> HttpResponse:
    """htmx: the course checkboxes for the chosen student."""
    raw = request.GET.get("student", "")
    student_id = int(raw) if raw.isdigit() else None
    courses = student_courses(student_id)
    context = {
        "courses": sorted((courses or {}).values(), key=lambda c: c[2]),
        "student_id": student_id,
        "checked": [],
        "canvas_unreachable": courses is None,
    }
    return render(request, "assignments/_course_options.html", context)


@coordinator_required
@require_http_methods(["GET", "POST"])
def assignment_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    programs = programs_for_coordinator(user=user)
    source = request.POST if request.method == "POST" else request.GET
    raw_student = source.get("student", "")
    found = student_courses(int(raw_student)) if raw_student.isdigit() else {}
    courses = found or {}
    course_list = sorted(courses.values(), key=lambda c: c[2])
    course_choices = [(str(c[0]), c[2]) for c in course_list]
    # The plain-HTML picker: the "Search" buttons post the form with search=1; the page comes back with the
    # matches as options and everything typed so far kept (no CSRF token ever lands in a URL).
    searching = request.method == "POST" and bool(request.POST.get("search"))
    extra = {
        "mentor": _people_matching(source.get("mentor_q", ""))[:PICKER_LIMIT],
        "student": _people_matching(source.get("student_q", ""))[:PICKER_LIMIT],
    }
    if request.method == "POST" and not searching:
        form = AssignmentCreateForm(request.POST, programs=programs, course_choices=course_choices)
    else:
        first = programs.first()
        starts, ends = default_dates(first)
        initial: dict[str, Any] = {"program": first.pk if first else None, "starts_on": starts, "ends_on": ends}
        initial.update({k: v for k, v in source.items() if k in AssignmentCreateForm.base_fields and v})
        form = AssignmentCreateForm(
            initial=initial, programs=programs, course_choices=course_choices, extra_people=extra
        )
    if request.method == "POST" and not searching and form.is_valid():
        data = form.cleaned_data
        picked = [
            AssignmentCourse(canvas_course_id=courses[c][0], sis_course_id=courses[c][1], name=courses[c][2])
            for c in data.get("courses") or []
        ]
        try:
            assignment = services.assignment_propose(
                program=data["program"],
                mentor=data["mentor"],
                student=data["student"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                link_method=data["link_method"] or None,
                courses=picked,
                reason=data["reason"],
                actor=user,
                request=request,
            )
        except services.AssignmentError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Assignment proposed. It waits for approval.")
            return redirect("assignments:detail", pk=assignment.pk)
    context = {
        "form": form,
        "mentor_q": source.get("mentor_q", ""),
        "student_q": source.get("student_q", ""),
        "courses": course_list,
        "student_id": int(raw_student) if raw_student.isdigit() else None,
        "checked": source.getlist("courses"),
        "canvas_unreachable": found is None,
    }
    return render(request, "assignments/create.html", context)


# --- detail and decisions --------------------------------------------------------------------------------------


def _detail_context(request: HttpRequest, assignment: MentorAssignment) -> dict[str, Any]:
    labels = dict(Action.choices)
    # The assignment's own outbox rows, through the reverse relation of sync's foreign key (no import of sync).
    links = list(assignment.links.order_by("kind", "canvas_course_id", "id"))
    # The assignment's own events and the Canvas outcomes of its links, in the order they were written (the id: an
    # event the audit sequencer has not chained yet has no seq for a second or so).
    events = list(
        AuditEvent.objects.filter(
            Q(object_type="mentorassignment", object_id=str(assignment.pk))
            | Q(object_type="observerlink", object_id__in=[str(link.pk) for link in links])
        ).order_by("id")
    )
    users = User.objects.in_bulk({e.actor_id for e in events if e.actor_id})

    def who(event: AuditEvent) -> str:
        user = users.get(event.actor_id) if event.actor_id else None
        return (user.get_full_name() or user.get_username()) if user else "the portal"

    timeline = [(event, labels.get(event.action, event.action), who(event)) for event in events]
    return {
        "assignment": assignment,
        "links": links,
        "timeline": timeline,
        "decision_form": DecisionForm(),
        "reason_form": ReasonForm(),
        "courses": assignment.courses.all(),
        "can_approve": not (
            assignment.program.requires_second_approver and assignment.proposed_by_id == _user(request).pk
        ),
        # Waiting on the worker (a link has Canvas work left) or on the mentor's pairing code: the page says it
        # updates by itself (htmx polls the links; without JavaScript a meta refresh reloads it).
        "propose_again": propose_again_query(assignment)
        if assignment.status in (MentorAssignment.Status.REJECTED, MentorAssignment.Status.ENDED, "cancelled")
        else "",
        "polling": assignment.link_state == "awaiting_redemption" or any(link.state in _WORK for link in links),
    }


@coordinator_required
@require_GET
def assignment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = selectors.assignment_for_coordinator(user=_user(request), pk=pk)
    return render(request, "assignments/detail.html", _detail_context(request, assignment))


@coordinator_required
@require_POST
def assignment_approve_view(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = selectors.assignment_for_coordinator(user=_user(request), pk=pk)
    form = DecisionForm(request.POST)
    form.fields["acknowledge"].choices = [(v, v) for v in request.POST.getlist("acknowledge")]  # type: ignore[attr-defined]
    if not form.is_valid():
        messages.error(request, "The approval could not be read; please try again.")
        return redirect("assignments:detail", pk=assignment.pk)
    try:
        services.assignment_approve(
            assignment=assignment,
            actor=_user(request),
            note=form.cleaned_data["note"],
            acknowledged=form.cleaned_data["acknowledge"],
            request=request,
        )
    except services.NeedsConfirmation as exc:
        return render(
            request,
            "assignments/confirm_approve.html",
            {"assignment": assignment, "warnings": exc.warnings, "note": form.cleaned_data["note"]},
        )
    except services.AssignmentError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Assignment approved. The Canvas link is on its way.")
    return redirect("assignments:detail", pk=assignment.pk)


def _reasoned_action(
    request: HttpRequest, pk: int, action: Callable[..., MentorAssignment], done: str, *, required: bool = True
) -> HttpResponse:
    assignment = selectors.assignment_for_coordinator(user=_user(request), pk=pk)
    form = ReasonForm(request.POST)
    if required and not form.is_valid():
        messages.error(request, "Say why: the reason is required. Nothing was changed.")
        return redirect("assignments:detail", pk=assignment.pk)
    reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
    try:
        action(assignment=assignment, actor=_user(request), reason=reason, request=request)
    except services.AssignmentError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect("assignments:detail", pk=assignment.pk)


@coordinator_required
@require_POST
def assignment_reject_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _reasoned_action(request, pk, services.assignment_reject, "Assignment rejected.")


@coordinator_required
@require_POST
def assignment_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _reasoned_action(request, pk, services.assignment_cancel, "Proposal cancelled.", required=False)


@coordinator_required
@require_POST
def assignment_end_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _reasoned_action(request, pk, services.assignment_end, "Assignment ended. The Canvas link is being removed.")


@coordinator_required
@require_http_methods(["GET", "POST"])
def assignment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a proposal's dates, method and reason while nobody has decided it (locked, audited with what changed)."""
    assignment = selectors.assignment_for_coordinator(user=_user(request), pk=pk)
    if assignment.status != MentorAssignment.Status.PROPOSED:
        messages.error(request, "Only a proposal waiting for a decision can be edited; propose again instead.")
        return redirect("assignments:detail", pk=assignment.pk)
    fields = {name: getattr(assignment, name) for name in ("starts_on", "ends_on", "link_method", "reason")}
    form = AssignmentEditForm(request.POST or None, initial=fields)
    if request.method == "POST" and form.is_valid():
        try:
            services.assignment_update(
                assignment=assignment, actor=_user(request), request=request, **form.cleaned_data
            )
        except services.NothingChanged as exc:
            messages.info(request, str(exc))
            return redirect("assignments:detail", pk=assignment.pk)
        except services.AssignmentError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Proposal changed. It still waits for approval.")
            return redirect("assignments:detail", pk=assignment.pk)
    return render(request, "assignments/edit.html", {"assignment": assignment, "form": form})


def propose_again_query(assignment: MentorAssignment) -> str:
    """The create form's query string, prefilled from an old assignment (new dates: the program's defaults)."""
    query = QueryDict(mutable=True)
    query.update(
        {
            "program": str(assignment.program_id),
            "mentor": str(assignment.mentor_id),
            "student": str(assignment.student_id),
            "link_method": assignment.link_method,
            "reason": assignment.reason,
        }
    )
    query.setlist("courses", [str(c.canvas_course_id) for c in assignment.courses.all()])
    return query.urlencode()
