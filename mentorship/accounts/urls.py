from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("canvas/start/", views.canvas_start, name="canvas_start"),
    path("canvas/callback/", views.canvas_callback, name="canvas_callback"),
]
