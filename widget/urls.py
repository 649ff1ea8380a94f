from django.urls import path

from widget.views import decision_widget

app_name = "widget"

# Relay global IDs are base64 and may contain "/", hence the path converter.
urlpatterns = [
    path("decisions/<path:decision_id>/", decision_widget, name="decision"),
]
