from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "mentorship.core"
    label = "core"
