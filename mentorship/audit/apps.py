from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "mentorship.audit"
    label = "audit"
