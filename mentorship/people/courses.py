"""Canvas course names, cached (docs/decisions.md, "Course names are cached, read by the worker").

Pages read names with `course_names` (one query for all the courses of a page); the names are written when a
coordinator picks courses (Canvas has just given them) and by the worker's refresh, never while a page renders.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from canvas_client import CanvasClient, CanvasError
from mentorship.celery import task_named

from .models import CanvasCourse

logger = logging.getLogger(__name__)

# A course's name is read again after this long (schools rename courses between terms, rarely within one).
REFRESH_AFTER = datetime.timedelta(days=1)
# Courses read per run of the refresh: each is one paced Canvas call on the worker.
REFRESH_BATCH = 200


def course_label(*, canvas_course_id: int, names: dict[int, str]) -> str:
    """The name to show for a course: the cached name, else "Course <id>" until the worker has read it."""
    return names.get(canvas_course_id) or f"Course {canvas_course_id}"


def course_names(ids: Iterable[int | str | None]) -> dict[int, str]:
    """{canvas course id: name} for the known courses among `ids`, in one query."""
    wanted = {int(i) for i in ids if i is not None and str(i).isdigit()}
    if not wanted:
        return {}
    rows = CanvasCourse.objects.filter(canvas_course_id__in=wanted).exclude(name="")
    return dict(rows.values_list("canvas_course_id", "name"))


def with_course_labels(rows: Iterable[Any]) -> list[Any]:
    """Set `course_label` on every row with a `canvas_course_id` (a link, an assignment's course, a drift item): the
    cached name, else the name the row kept when it was picked, else "Course <id>". One query for all the rows."""
    items = list(rows or ())
    ids = [getattr(item, "canvas_course_id", None) for item in items]
    names = course_names(ids)
    for item, course_id in zip(items, ids, strict=True):
        if course_id is None:
            continue
        own = getattr(item, "name", "") or ""  # an assignment's course row keeps the name it was picked with
        item.course_label = names.get(int(course_id)) or own or course_label(canvas_course_id=course_id, names={})
    return items


def courses_remember(*, courses: Iterable[tuple[int, str, str]]) -> None:
    """Store names Canvas just gave (id, SIS id, name), e.g. from the student's course list on the create form.

    Upserts in one statement; an empty name never overwrites a known one.
    """
    now = timezone.now()
    named = {int(cid): (sis, name) for cid, sis, name in courses if name}  # one row per course: one upsert each
    rows = [
        CanvasCourse(canvas_course_id=cid, sis_course_id=sis or "", name=name, refreshed_at=now)
        for cid, (sis, name) in named.items()
    ]
    if rows:
        CanvasCourse.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["canvas_course_id"],
            update_fields=["name", "sis_course_id", "refreshed_at"],
        )


def courses_track(*, ids: Iterable[int]) -> int:
    """Make sure each course id has a row, so the refresh reads its name. Returns how many were new."""
    known = set(CanvasCourse.objects.filter(canvas_course_id__in=set(ids)).values_list("canvas_course_id", flat=True))
    new = [CanvasCourse(canvas_course_id=i) for i in set(ids) - known]
    CanvasCourse.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def courses_refresh(*, client: CanvasClient, limit: int = REFRESH_BATCH) -> int:
    """Read from Canvas the names of courses never read, or read longest ago (one paced call per course, on the
    worker). A course Canvas will not show is left as it was and tried again next time. Returns how many were read.
    """
    stale_before = timezone.now() - REFRESH_AFTER
    due = list(
        CanvasCourse.objects.filter(refreshed_at__isnull=True).values_list("canvas_course_id", flat=True)[:limit]
    )
    if len(due) < limit:
        older = CanvasCourse.objects.filter(refreshed_at__lt=stale_before).order_by("refreshed_at")
        due += list(older.values_list("canvas_course_id", flat=True)[: limit - len(due)])
    read: list[tuple[int, str, str]] = []
    for course_id in due:
        try:
            course = client.get_course(course_id)
        except CanvasError as exc:
            logger.info("course %s: name not read (%s)", course_id, exc.status)
            continue
        read.append((course.id, course.sis_course_id or "", course.name))
    with transaction.atomic():
        courses_remember(courses=read)
    return len(read)


def courses_note(*, courses: Iterable[tuple[int, str, str]]) -> None:
    """Called where an assignment's courses are saved (in its transaction): keep the names given, and when some
    came without one, ask the worker to read them once the transaction commits (the page shows "Course <id>" until
    then)."""
    given = list(courses)
    courses_remember(courses=given)
    if courses_track(ids={int(cid) for cid, _sis, name in given if not name}):
        transaction.on_commit(_publish_refresh)


def _publish_refresh() -> None:
    try:
        task_named("sync.course_names").apply_async(retry=False)
    except Exception:  # the hourly beat job reads them instead
        logger.warning("broker unavailable; course names left for the hourly refresh")
