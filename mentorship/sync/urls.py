from django.urls import path

from . import token_views, views

app_name = "sync"

urlpatterns = [
    path("connection/", views.connection, name="connection"),
    path("connection/panel/", views.connection_panel, name="connection_panel"),
    path("connection/token/", token_views.portal_token_view, name="portal_token"),
    path("links/<int:pk>/retry/", views.link_retry_view, name="link_retry"),
    path("assignments/<int:pk>/links/", views.assignment_links, name="assignment_links"),
    path("assignments/<int:pk>/pairing-code/", views.pairing_code_reissue, name="pairing_code_reissue"),
    path("programs/<int:pk>/user_observers.csv", views.sis_csv, name="sis_csv"),
    path("drift/", views.drift_report, name="drift"),
    path("drift/run/", views.reconcile_run_view, name="reconcile_run"),
    path("drift/runs/<int:pk>/confirm/", views.reconcile_confirm_view, name="reconcile_confirm"),
    path("drift/items/<int:pk>/remove/", views.drift_remove_view, name="drift_remove"),
]
