"""`{% load course_names %}` then `{% for c in rows|with_course_names %}{{ c.course_label }}`: every row with a
`canvas_course_id` (links, an assignment's courses) gets the cached course name, one query for the whole list."""

from __future__ import annotations

from typing import Any

from django import template

from mentorship.people.courses import course_label, course_names

register = template.Library()


@register.filter
def with_course_names(rows: Any) -> list[Any]:
    items = list(rows or ())
    ids = [getattr(item, "canvas_course_id", None) for item in items]
    names = course_names(ids)
    for item, course_id in zip(items, ids, strict=True):
        if course_id is None:
            continue
        # An assignment's course row keeps the name it was picked with: shown until the worker has read one.
        own = getattr(item, "name", "") or ""
        item.course_label = names.get(int(course_id)) or own or course_label(canvas_course_id=course_id, names={})
    return items
