"""The administrators' page of API tokens (Django admin): who holds one, for which programs, last use; revoking.

Issuing stays with `manage.py api_token issue`, which prints the token once: an admin form would have to show a
secret in a page the browser may keep.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from mentorship.api.models import ApiToken
from mentorship.api.services import api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("name", "prefix", "programs", "created_by", "created_at", "last_used_at", "revoked_at")
    exclude = ("digest",)
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False  # revoked, never deleted: the audit events name the row

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(api_token_revoke(prefix=token.prefix, actor=request.user) for token in queryset)  # type: ignore[arg-type]
        messages.info(request, f"{revoked} token(s) revoked.")
