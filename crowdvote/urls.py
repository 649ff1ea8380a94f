from django.contrib import admin
from django.urls import path

from schema.views import CrowdVoteGraphQLView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("graphql", CrowdVoteGraphQLView.as_view(), name="graphql"),
    path("graphql/", CrowdVoteGraphQLView.as_view()),
]
