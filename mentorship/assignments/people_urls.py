from django.urls import path

from . import people_views as views

app_name = "people"

urlpatterns = [
    path("", views.people_list, name="list"),
    path("add/", views.person_add, name="add"),
    path("bulk/", views.people_bulk_add, name="bulk_add"),
    path("<int:pk>/", views.person_detail, name="detail"),
    path("<int:pk>/refresh/", views.person_refresh_view, name="refresh"),
]
