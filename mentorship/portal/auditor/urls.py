from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.event_log, name="log"),
    path("export.csv", views.event_export, name="export"),
    path("verify/", views.verify, name="verify"),
    path("students/", views.student_search, name="students"),
    path("students/<int:person_id>/", views.evidence_page, name="evidence"),
    path("students/<int:person_id>/evidence.csv", views.evidence_csv, name="evidence_csv"),
    path("students/<int:person_id>/evidence.pdf", views.evidence_pdf_view, name="evidence_pdf"),
]
