from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "mentorship.portal"
    label = "portal"
