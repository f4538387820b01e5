"""A hook: one question a lower app asks and a higher app answers, registered in the higher app's ready().

The lower app owns the question (a Protocol) and the Hook; the higher app registers the answer at start-up. Imports
then only go down the layers (docs/architecture.md, "Hooks"), and a missing answer fails loudly instead of silently
doing nothing.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")


class Hook(Generic[T]):
    def __init__(self, what: str, *, answered_by: str) -> None:
        self.what = what
        self.answered_by = answered_by
        self._answer: T | None = None

    def register(self, answer: T) -> None:
        self._answer = answer

    def __call__(self) -> T:
        if self._answer is None:
            raise ImproperlyConfigured(f"No app registered {self.what} ({self.answered_by} does, in its ready()).")
        return self._answer
