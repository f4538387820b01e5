from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "mentorship.sync"
    label = "sync"

    def ready(self) -> None:
        # Assignments asks for links through a hook (mentorship/assignments/hooks.py); sync answers here.
        from mentorship.assignments.hooks import register_canvas_links

        from . import tasks  # noqa: F401  (registers the tasks the services publish by name)
        from .assignment_links import SyncCanvasLinks

        register_canvas_links(SyncCanvasLinks())
