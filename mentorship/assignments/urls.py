from django.urls import path

from . import bulk_views, import_views, program_views, views

app_name = "assignments"

urlpatterns = [
    path("programs/", program_views.program_list, name="programs"),
    path("programs/new/", program_views.program_create_view, name="program_create"),
    path("programs/<int:pk>/", program_views.program_detail, name="program"),
    path("programs/<int:pk>/roles/", program_views.role_grant_view, name="role_grant"),
    path("programs/roles/<int:pk>/revoke/", program_views.role_revoke_view, name="role_revoke"),
    path("assignments/", views.assignment_list, name="list"),
    path("assignments/bulk/", bulk_views.assignment_bulk, name="bulk"),
    path("assignments/bulk/<int:pk>/", bulk_views.bulk_status, name="bulk_status"),
    path("assignments/new/", views.assignment_create, name="create"),
    path("assignments/new/people/", views.person_options, name="person_options"),
    path("assignments/new/courses/", views.course_options, name="course_options"),
    path("assignments/import/", import_views.import_upload, name="import"),
    path("assignments/import/template.csv", import_views.import_template, name="import_template"),
    path("assignments/import/example.csv", import_views.import_sample, name="import_sample"),
    path("assignments/import/<int:pk>/confirm/", import_views.import_confirm, name="import_confirm"),
    path("assignments/import/<int:pk>/", import_views.import_status, name="import_status"),
    path("assignments/<int:pk>/", views.assignment_detail, name="detail"),
    path("assignments/<int:pk>/edit/", views.assignment_edit, name="edit"),
    path("assignments/<int:pk>/approve/", views.assignment_approve_view, name="approve"),
    path("assignments/<int:pk>/reject/", views.assignment_reject_view, name="reject"),
    path("assignments/<int:pk>/cancel/", views.assignment_cancel_view, name="cancel"),
    path("assignments/<int:pk>/end/", views.assignment_end_view, name="end"),
]
