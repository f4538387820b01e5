from django.apps import AppConfig


class AssignmentsConfig(AppConfig):
    name = "mentorship.assignments"
    label = "assignments"

    def ready(self) -> None:
        # Accounts asks, assignments answers: see mentorship/accounts/hooks.py.
        from mentorship.accounts.hooks import register_canvas_sign_in_rule

        from .sign_in import MentorSignInRule

        register_canvas_sign_in_rule(MentorSignInRule())
