from django.apps import AppConfig


class MentorsConfig(AppConfig):
    name = "mentorship.mentors"
    label = "mentors"
