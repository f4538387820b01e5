from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "mentorship.api"
    label = "api"
    verbose_name = "SIS API"
