from django.contrib import admin
from django.urls import include, path

from accounts.csrf import bearer_csrf_exempt
from accounts.views import SignInView
from schema.snapshots import snapshot_download
from schema.views import CrowdVoteGraphQLView

# Errors raised before the GraphQL view answers still reach API clients as coded JSON.
handler400 = "schema.http_requests.bad_request"
handler500 = "schema.http_requests.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("graphql", bearer_csrf_exempt(CrowdVoteGraphQLView.as_view()), name="graphql"),
    path("graphql/", bearer_csrf_exempt(CrowdVoteGraphQLView.as_view())),
    path("sign-in/", SignInView.as_view(), name="sign-in"),
    # Calculation IDs are base64 and may contain "/", hence the path converter.
    path("snapshots/<path:calculation_id>.json", snapshot_download, name="snapshot"),
    path("widget/", include("widget.urls")),
]
