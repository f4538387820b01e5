from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "mentorship.accounts"
    label = "accounts"
