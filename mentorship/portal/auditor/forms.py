"""Auditor filters. Invalid input is answered with 400 and the form's sentences."""

from __future__ import annotations

from typing import Any

from django import forms

from mentorship.accounts.models import User
from mentorship.assignments.models import Program
from mentorship.audit.actions import Action

from .selectors import EventFilters, audit_programs_for_viewer


def _date_field(*, label: str, which: str) -> forms.DateField:
    return forms.DateField(
        required=False,
        label=label,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": f"Enter the {which} date as YYYY-MM-DD."},
    )


def _position_field(*, min_value: int) -> forms.IntegerField:
    return forms.IntegerField(
        required=False,
        min_value=min_value,
        max_value=2**63 - 1,
        widget=forms.HiddenInput,
        error_messages={"invalid": "The page position must be a whole number."},
    )


class EventFilterForm(forms.Form):
    program = forms.ModelChoiceField(
        queryset=Program.objects.none(),
        required=False,
        empty_label="All my programs",
        error_messages={"invalid_choice": "Choose one of your programs."},
    )
    person = forms.CharField(
        max_length=150,
        required=False,
        label="Anyone named",
        help_text="Part of a name: who acted, the mentor or the student.",
    )
    actor = forms.CharField(
        max_length=150,
        required=False,
        label="Who acted",
        help_text="A name or user name, or system:worker, system:beat, system:reconciler.",
    )
    student = forms.CharField(max_length=150, required=False, help_text="Name, SIS id, login or Canvas id.")
    action = forms.ChoiceField(
        choices=[("", "Any action"), *Action.choices],
        required=False,
        error_messages={"invalid_choice": "Choose an action from the list."},
    )
    date_from = _date_field(label="From", which="start")
    date_to = _date_field(label="To", which="end")
    # Keyset paging: the seq to read older events before, or newer events after (hidden, set by the page links).
    before = _position_field(min_value=1)
    after = _position_field(min_value=0)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = audit_programs_for_viewer(user=user)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise forms.ValidationError("The start date must be on or before the end date.")
        if cleaned.get("before") is not None and cleaned.get("after") is not None:
            raise forms.ValidationError("Ask for older or newer events, not both.")
        return cleaned

    def filters(self) -> EventFilters:
        data = self.cleaned_data
        return EventFilters(
            program=data.get("program"),
            actor=(data.get("actor") or "").strip(),
            person=(data.get("person") or "").strip(),
            student=(data.get("student") or "").strip(),
            action=data.get("action") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )


class StudentSearchForm(forms.Form):
    q = forms.CharField(max_length=150, required=False, label="Student", help_text="Name, SIS id, login or Canvas id.")
