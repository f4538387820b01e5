from django.urls import path

app_name = "mentors"

urlpatterns: list = []
