"""The Django admin for support staff, under the portal's rule: only a portal admin (an active superuser) may open
or change anything, and every save is audited in the same transaction (a switched-off account loses its sessions,
as on the portal's own Accounts page)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.http import HttpRequest

from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record

from .models import Invitation, ProgramRole, User
from .services import sessions_end


class PortalAdminOnly(admin.ModelAdmin):
    """Every permission is "is this a portal admin": Django's per-model permissions are not used by the portal."""

    def _admin(self, request: HttpRequest) -> bool:
        return bool(getattr(request.user, "is_portal_admin", False))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._admin(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._admin(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._admin(request)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if isinstance(obj, User) and not obj.is_active:
                sessions_end(user=obj)
            audit_record(
                action=Action.ACCOUNT_CHANGED,
                actor=request.user,
                obj=obj,
                request=request,
                details={"model": obj._meta.model_name, "created": not change, "fields": sorted(form.changed_data)},
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        details = {"model": obj._meta.model_name, "deleted": str(obj)}
        with transaction.atomic():
            audit_record(action=Action.ACCOUNT_CHANGED, actor=request.user, obj=obj, request=request, details=details)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(User)
class PortalUserAdmin(PortalAdminOnly, UserAdmin):
    list_display = ("username", "first_name", "last_name", "email", "is_active", "is_superuser", "person")
    list_filter = ("is_active", "is_superuser")
    raw_id_fields = ("person",)
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Mentor Link", {"fields": ("person",)}),
    )


@admin.register(ProgramRole)
class ProgramRoleAdmin(PortalAdminOnly):
    list_display = ("user", "role", "program", "granted_by", "granted_at")
    list_filter = ("role", "program")
    raw_id_fields = ("user", "granted_by")


@admin.register(Invitation)
class InvitationAdmin(PortalAdminOnly):
    """Invitations are made on the portal's Accounts page (it mails the link); here they can be read and withdrawn."""

    list_display = ("email", "role", "invited_by", "created_at", "expires_at", "accepted_at", "withdrawn_at")
    list_filter = ("role",)
    readonly_fields = ("token_hash", "invited_by", "created_at", "accepted_at", "accepted_user")
    exclude = ()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
