from django.contrib import admin
from django.urls import include, path

from mentorship.api.api import api

urlpatterns = [
    path("", include("mentorship.portal.urls")),
    path("accounts/", include("mentorship.accounts.urls")),
    path("people/", include("mentorship.assignments.people_urls")),
    path("", include("mentorship.assignments.urls")),
    path("sync/", include("mentorship.sync.urls")),
    path("my/", include("mentorship.mentors.urls")),
    path("audit/", include("mentorship.portal.auditor.urls")),
    path("django-admin/", admin.site.urls),
    path("", include("mentorship.metrics.urls")),
    path("api/v1/", api.urls),
]

handler500 = "mentorship.core.views.server_error"
