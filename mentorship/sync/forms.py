from __future__ import annotations

from typing import Any

from django import forms

from mentorship.assignments.models import Program


class ReconcileForm(forms.Form):
    program = forms.ModelChoiceField(queryset=Program.objects.none(), label="Program")
    dry_run = forms.BooleanField(required=False, label="Preview only (change nothing in Canvas)")

    def __init__(self, *args: Any, programs: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = programs  # type: ignore[attr-defined]


class SisCsvForm(forms.Form):
    STATES = [("pending", "Waiting to sync"), ("linked", "Linked in Canvas"), ("all", "All current links")]
    which = forms.ChoiceField(choices=STATES, initial="pending", required=False)
