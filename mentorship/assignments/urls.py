from django.urls import path

from . import views

app_name = "assignments"

urlpatterns = [
    path("dashboard/", views.assignment_list, name="dashboard"),
    path("programs/", views.assignment_list, name="programs"),
    path("assignments/", views.assignment_list, name="list"),
    path("assignments/new/", views.assignment_create, name="create"),
    path("assignments/<int:pk>/", views.assignment_detail, name="detail"),
    path("assignments/<int:pk>/approve/", views.assignment_approve_view, name="approve"),
]
