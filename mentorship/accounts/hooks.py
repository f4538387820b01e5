"""What accounts needs from the apps above it, supplied by them at start-up (docs/architecture.md, "Hooks").

A first "Sign in with Canvas" opens an account only for a person who mentors. Who a Canvas user is (people) and
whether they mentor (assignments) are questions for apps above accounts, so accounts declares the question here
and the assignments app answers it from its AppConfig.ready().
"""

from __future__ import annotations

from typing import Any, Protocol

from mentorship.core.hooks import Hook


class CanvasSignInRule(Protocol):
    def person_for_canvas_user(self, canvas_user_id: int) -> Any:
        """The people.Person with this Canvas id, or None."""

    def may_open_account(self, person: Any) -> bool:
        """Whether a first sign-in of this person creates their portal account."""


canvas_sign_in_rule: Hook[CanvasSignInRule] = Hook("the Canvas sign-in rule", answered_by="the assignments app")
register_canvas_sign_in_rule = canvas_sign_in_rule.register
