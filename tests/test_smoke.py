from strawberry.relay import to_base64

from tests.factories import CommunityFactory

QUERY = "query($id: ID!) { community(id: $id) { name } me { username } }"


def test_community_query_answers_over_http(graphql_as, user):
    community = CommunityFactory(name="Park friends")
    response = graphql_as(user)(QUERY, id=to_base64("Community", community.pk))
    assert response.data == {"community": {"name": "Park friends"}, "me": {"username": "alice"}}
