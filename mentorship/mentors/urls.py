from django.urls import path

from . import views

app_name = "mentors"

urlpatterns = [
    path("", views.students, name="students"),
    path("students/<int:assignment_id>/", views.student, name="student"),
    path("students/<int:assignment_id>/link/", views.link_status, name="link_status"),
    path("students/<int:assignment_id>/link/now/", views.link_now, name="link_now"),
]
