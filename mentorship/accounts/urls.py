from typing import Any

from django.contrib.auth import views as auth_views
from django.urls import path

from . import password_views, staff_views, views

app_name = "accounts"


def _with_portal_template(view: Any, template: str) -> Any:
    """Django's own "done" pages, in the portal's templates."""
    return view.as_view(template_name=f"registration/{template}.html")


urlpatterns = [
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("canvas/start/", views.canvas_start, name="canvas_start"),
    path("canvas/callback/", views.canvas_callback, name="canvas_callback"),
    path("users/", staff_views.users, name="users"),
    path("users/invite/", staff_views.invite, name="invite"),
    path("users/<int:pk>/active/", staff_views.user_active, name="user_active"),
    path("invitations/<int:pk>/withdraw/", staff_views.invitation_withdraw, name="invitation_withdraw"),
    path("invitation/<str:token>/", staff_views.invitation_accept, name="invitation"),
    path("password/reset/", password_views.PortalPasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        _with_portal_template(auth_views.PasswordResetDoneView, "password_reset_done"),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        password_views.PortalPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        _with_portal_template(auth_views.PasswordResetCompleteView, "password_reset_complete"),
        name="password_reset_complete",
    ),
    path("password/change/", password_views.PortalPasswordChangeView.as_view(), name="password_change"),
    path(
        "password/change/done/",
        _with_portal_template(auth_views.PasswordChangeDoneView, "password_change_done"),
        name="password_change_done",
    ),
]
