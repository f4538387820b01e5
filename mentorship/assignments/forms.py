from __future__ import annotations

from typing import Any

from django import forms

from mentorship.people.models import Person

from .models import LinkMethod, Program


class AssignmentCreateForm(forms.Form):
    program = forms.ModelChoiceField(queryset=Program.objects.none())
    mentor = forms.ModelChoiceField(queryset=Person.objects.all())
    student = forms.ModelChoiceField(queryset=Person.objects.all())
    starts_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    link_method = forms.ChoiceField(choices=LinkMethod.choices)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)

    def __init__(self, *args: Any, programs: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = programs  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("mentor") and data.get("mentor") == data.get("student"):
            self.add_error("student", "The mentor and the student must be different people.")
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            self.add_error("ends_on", "The end date is before the start date.")
        return data


class DecisionForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
