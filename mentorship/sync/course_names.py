"""The worker's refresh of course names (docs/decisions.md, "Course names are cached, read by the worker").

Sync is the lowest app that knows every place a course id appears (assignments' scopes and its own links), so it
gathers the ids; `people.courses` keeps and reads the names.
"""

from __future__ import annotations

from mentorship.assignments.models import AssignmentCourse
from mentorship.core.canvas import portal_client
from mentorship.people.courses import courses_refresh, courses_track

from .models import ObserverLink


def course_names_refresh() -> int:
    """Track every course id the portal refers to, then read the names due (the portal's token, paced)."""
    ids = set(AssignmentCourse.objects.values_list("canvas_course_id", flat=True).distinct())
    linked = ObserverLink.objects.filter(canvas_course_id__isnull=False).values_list("canvas_course_id", flat=True)
    ids |= {i for i in linked.distinct() if i is not None}
    courses_track(ids=ids)
    return courses_refresh(client=portal_client(max_retries=1))
