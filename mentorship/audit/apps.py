from django.apps import AppConfig
from django.db.backends.signals import connection_created


class AuditConfig(AppConfig):
    name = "mentorship.audit"
    label = "audit"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registers audit.sequence, which audit_record publishes by name)
        from .maintenance import register_sqlite_function

        connection_created.connect(register_sqlite_function, dispatch_uid="mentorlink_audit_sqlite_function")
