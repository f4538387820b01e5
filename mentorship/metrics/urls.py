from django.urls import path

from mentorship.metrics.views import metrics

app_name = "metrics"
urlpatterns = [path("metrics", metrics, name="metrics")]
