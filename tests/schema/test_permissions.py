"""Sign-in is declared on the fields that need it and checked before anything else."""

from __future__ import annotations

import pytest
from strawberry.types.base import StrawberryObjectDefinition

from core.errors import NotAuthenticated
from democracy.models import Community
from schema.permissions import IsSignedIn
from schema.schema import schema

OPEN_TO_ANYONE = {"requestMagicLink", "signInWithMagicLink"}


def test_every_mutation_but_signing_in_declares_sign_in():
    mutation = schema.get_type_by_name("Mutation")
    assert isinstance(mutation, StrawberryObjectDefinition)
    name = schema.config.name_converter.get_graphql_name
    guarded = {name(f) for f in mutation.fields if IsSignedIn in f.permission_classes}
    assert guarded == {name(f) for f in mutation.fields} - OPEN_TO_ANYONE


@pytest.mark.parametrize(
    "document",
    [
        'mutation { leaveCommunity(communityId: "nope") { ok } }',
        'mutation { retractBallot(decisionId: "nope") { ok } }',
        'mutation { recalculateDecision(decisionId: "nope") { calculation { id } } }',
        'mutation { createCommunity(input: {name: "Allotments"}) { community { id } } }',
    ],
)
def test_an_anonymous_caller_is_refused_before_any_input_is_read(graphql_as, document):
    response = graphql_as(None)(document)
    assert response.error_codes == ["UNAUTHENTICATED"]
    assert [e["message"] for e in response.body["errors"]] == [str(NotAuthenticated())]
    assert response.body["data"] is None
    assert not Community.objects.exists()
