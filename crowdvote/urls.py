from django.contrib import admin
from django.urls import include, path

from accounts.csrf import bearer_csrf_exempt
from accounts.views import SignInView
from schema.views import CrowdVoteGraphQLView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("graphql", bearer_csrf_exempt(CrowdVoteGraphQLView.as_view()), name="graphql"),
    path("graphql/", bearer_csrf_exempt(CrowdVoteGraphQLView.as_view())),
    path("sign-in/", SignInView.as_view(), name="sign-in"),
    path("widget/", include("widget.urls")),
]
