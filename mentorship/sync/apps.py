from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "mentorship.sync"
    label = "sync"
