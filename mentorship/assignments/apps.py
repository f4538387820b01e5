from django.apps import AppConfig


class AssignmentsConfig(AppConfig):
    name = "mentorship.assignments"
    label = "assignments"
