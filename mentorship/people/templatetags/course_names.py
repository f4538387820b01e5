"""`{% load course_names %}` then `{% for c in rows|with_course_names %}{{ c.course_label }}`: every row with a
`canvas_course_id` (links, an assignment's courses, drift items) gets the cached course name, one query for the
whole list (people.courses.with_course_labels)."""

from __future__ import annotations

from typing import Any

from django import template

from mentorship.people.courses import with_course_labels

register = template.Library()


@register.filter
def with_course_names(rows: Any) -> list[Any]:
    return with_course_labels(rows)
