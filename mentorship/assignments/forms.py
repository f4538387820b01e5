from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone

from mentorship.accounts.models import ProgramRole, User
from mentorship.people.models import Person

from .models import LinkMethod, MentorAssignment, Program
from .selectors import SORTS
from .services import PROGRAM_FIELDS, REASON_MAX_LENGTH, past_end_message

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PersonChoiceField(forms.ModelChoiceField):
    """A person picked by id: the search-as-you-type picker fills a hidden-free <select> or a plain id box."""

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.label)


class AssignmentCreateForm(forms.Form):
    program = forms.ModelChoiceField(queryset=Program.objects.none())
    mentor = PersonChoiceField(queryset=Person.objects.all(), widget=forms.Select(attrs={"class": "person-select"}))
    student = PersonChoiceField(queryset=Person.objects.all(), widget=forms.Select(attrs={"class": "person-select"}))
    starts_on = forms.DateField(widget=DATE)
    ends_on = forms.DateField(widget=DATE)
    link_method = forms.ChoiceField(choices=[("", "The program's default"), *list(LinkMethod.choices)], required=False)
    courses = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave empty for all the student's courses.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=REASON_MAX_LENGTH)

    def __init__(
        self,
        *args: Any,
        programs: Any,
        course_choices: list[tuple[str, str]] | None = None,
        extra_people: dict[str, list[Person]] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self.fields["program"].queryset = programs  # type: ignore[attr-defined]
        self.fields["courses"].choices = course_choices or []  # type: ignore[attr-defined]
        # Only the chosen person and the latest search results render as options: the table can hold tens of
        # thousands of people. Validation still accepts any Person id (the queryset is all people).
        for name in ("mentor", "student"):
            picked = self.data.get(name) if self.is_bound else self.initial.get(name)
            ids = [int(picked)] if picked and str(picked).isdigit() else []
            people = list(Person.objects.filter(pk__in=ids)) + list((extra_people or {}).get(name, []))
            seen: set[int] = set()
            options: list[tuple[Any, str]] = [("", "Search for a person, then choose")]
            for p in people:
                if p.pk not in seen:
                    seen.add(p.pk)
                    options.append((p.pk, p.label))
            self.fields[name].widget.choices = options

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("mentor") and data.get("mentor") == data.get("student"):
            self.add_error("student", "The mentor and the student must be different people.")
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            self.add_error("ends_on", "The end date is before the start date.")
        elif data.get("ends_on") and data["ends_on"] < timezone.localdate():
            self.add_error("ends_on", past_end_message(data["ends_on"]))
        if data.get("link_method") == LinkMethod.COURSES and not data.get("courses"):
            self.add_error("courses", "Pick at least one course for the 'courses' link method.")
        return data


class AssignmentEditForm(forms.Form):
    """What may change in a proposal before it is decided (services.assignment_update checks the rules again)."""

    starts_on = forms.DateField(widget=DATE, label="Starts on")
    ends_on = forms.DateField(widget=DATE, label="Ends on")
    link_method = forms.ChoiceField(choices=LinkMethod.choices, label="Method")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=REASON_MAX_LENGTH)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            self.add_error("ends_on", "The end date is before the start date.")
        return data


class DecisionForm(forms.Form):
    note = forms.CharField(
        label="Note (optional)", required=False, max_length=REASON_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )
    acknowledge = forms.MultipleChoiceField(required=False, widget=forms.MultipleHiddenInput)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why: the reason is required."},
    )


# The warnings a bulk approval may confirm for all its rows at once (the codes of the approval warnings).
BULK_WARNINGS = {
    "student_to_student": "some mentors are students themselves",
    "mentor_student_in_scope": "some mentors study in courses in scope",
    "student_check_skipped": "approve where Canvas could not tell whether the mentor is a student",
}


class BulkForm(forms.Form):
    # approve_all: every proposal matching the list's filters (cleaned into decision=approve, scope=filter).
    decision = forms.ChoiceField(
        choices=[
            ("approve", "Approve selected"),
            ("reject", "Reject selected"),
            ("approve_all", "Approve all matching"),
        ]
    )
    ids = forms.TypedMultipleChoiceField(
        coerce=int, choices=[], required=False, error_messages={"required": "Select at least one."}
    )
    reason = forms.CharField(required=False, max_length=REASON_MAX_LENGTH, label="Note or reason (required to reject)")
    acknowledge = forms.MultipleChoiceField(
        required=False,
        choices=[(code, f"I confirm: {what}") for code, what in BULK_WARNINGS.items()],
        widget=forms.CheckboxSelectMultiple,
        label="Warnings",
    )
    # The confirm page of "all matching" posts back the count it showed: if the match changed, it is shown again.
    confirmed = forms.BooleanField(required=False)
    expected = forms.IntegerField(required=False, min_value=0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        raw = self.data.getlist("ids") if self.is_bound and hasattr(self.data, "getlist") else []
        self.fields["ids"].choices = [(v, v) for v in raw]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["scope"] = "filter" if data.get("decision") == "approve_all" else "selected"
        if data["scope"] == "filter":
            data["decision"] = "approve"
        if data.get("decision") == "reject" and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why the assignments are rejected: the reason is required.")
        if data["scope"] == "selected" and not data.get("ids") and "ids" not in self.errors:
            self.add_error("ids", "Select at least one.")
        return data


class ListFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=200)
    program = forms.ModelChoiceField(queryset=Program.objects.none(), required=False, empty_label="All programs")
    status = forms.ChoiceField(choices=[("", "Any status"), *list(MentorAssignment.Status.choices)], required=False)
    link_state = forms.ChoiceField(
        choices=[("", "Any Canvas state"), *list(MentorAssignment.LinkState.choices)], required=False, label="Canvas"
    )
    mentor = forms.IntegerField(required=False, widget=forms.HiddenInput)
    student = forms.IntegerField(required=False, widget=forms.HiddenInput)
    starts_from = forms.DateField(required=False, widget=DATE, label="Starts from")
    starts_to = forms.DateField(required=False, widget=DATE, label="Starts until")
    ends_from = forms.DateField(required=False, widget=DATE, label="Ends from")
    ends_to = forms.DateField(required=False, widget=DATE, label="Ends until")
    attention = forms.BooleanField(required=False, label="Needs attention")
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("newest", "Newest first"),
            ("oldest", "Oldest first"),
            ("starts", "Start date"),
            ("-starts", "Start date, latest first"),
            ("ends", "End date"),
            ("-ends", "End date, latest first"),
            ("mentor", "Mentor name"),
            ("-mentor", "Mentor name, Z to A"),
            ("student", "Student name"),
            ("-student", "Student name, Z to A"),
        ],
    )

    def __init__(self, *args: Any, programs: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = programs  # type: ignore[attr-defined]
        assert set(dict(self.fields["sort"].choices)) <= set(SORTS)  # type: ignore[attr-defined]


class CsvUploadForm(forms.Form):
    program = forms.ModelChoiceField(queryset=Program.objects.none())
    file = forms.FileField(
        label="CSV file",
        help_text="Columns: mentor, student, starts_on, ends_on, scope, method, reason. UTF-8, comma separated.",
    )

    def __init__(self, *args: Any, programs: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = programs  # type: ignore[attr-defined]


class ProgramForm(forms.ModelForm):
    class Meta:
        model = Program
        fields = list(PROGRAM_FIELDS)  # exactly what services.program_create / program_update accept
        labels = {"slug": "Short name (used in URLs and the import command)"}
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def clean_max_assignment_days(self) -> int:
        value = int(self.cleaned_data["max_assignment_days"])
        if value < 1:
            raise forms.ValidationError("An assignment must be allowed to last at least one day.")
        return value


class UserChoiceField(forms.ModelChoiceField):
    """Accounts by the name the role table shows, the user name after it (two people may share a name)."""

    def label_from_instance(self, obj: Any) -> str:
        name = obj.get_full_name()
        return f"{name} ({obj.get_username()})" if name else obj.get_username()


class RoleGrantForm(forms.Form):
    user = UserChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("last_name", "first_name", "username"), label="Person"
    )
    role = forms.ChoiceField(choices=ProgramRole.Role.choices)


class SisIdsForm(forms.Form):
    file = forms.FileField(label="CSV or text file of SIS ids", required=False, help_text="One SIS id per line.")
    sis_ids = forms.CharField(
        label="Or paste SIS ids", required=False, widget=forms.Textarea(attrs={"rows": 4}), max_length=100_000
    )

    def ids(self) -> list[str]:
        text = self.cleaned_data.get("sis_ids") or ""
        upload = self.cleaned_data.get("file")
        if upload:
            text += "\n" + upload.read(2_000_000).decode("utf-8-sig", errors="replace")
        out = []
        for line in text.replace(";", "\n").replace(",", "\n").splitlines():
            value = line.strip().strip('"')
            if value and value.lower() not in {"sis_id", "sis_user_id"}:
                out.append(value)
        return out


def default_dates(program: Program | None) -> tuple[datetime.date, datetime.date]:
    today = timezone.localdate()
    days = min(180, program.max_assignment_days) if program else 180
    return today, today + datetime.timedelta(days=days - 1)
