from django.urls import path

from mentorship.portal import dashboard, help, views

# The namespace home and /healthz had when they lived in core; templates and settings name them so.
app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/live", views.healthz_live, name="healthz_live"),
    path("healthz/ready", views.healthz_ready, name="healthz_ready"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("help/<slug:role>/", help.guide, name="help"),
    path("help/screenshots/<str:name>", help.screenshot, name="help_screenshot"),
]
