from django.apps import AppConfig


class AssignmentsConfig(AppConfig):
    name = "mentorship.assignments"
    label = "assignments"

    def ready(self) -> None:
        # Accounts asks, assignments answers: see mentorship/accounts/hooks.py.
        from mentorship.accounts.hooks import register_canvas_sign_in_rule

        from . import tasks  # noqa: F401  (registers the tasks the services publish by name)
        from .sign_in import MentorSignInRule

        register_canvas_sign_in_rule(MentorSignInRule())
