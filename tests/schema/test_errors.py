"""Django validation errors reach clients as UserErrors, and nothing is saved."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from democracy.models import Community
from schema.errors import camel, user_errors_of
from schema.scalars import DECIMAL
from tests.schema.democracy.test_mutation_communities import CREATE


@pytest.mark.django_db
def test_a_too_long_name_is_a_user_error_naming_the_field(graphql_as, user):
    payload = graphql_as(user)(CREATE, input={"name": "x" * 121}).data["createCommunity"]
    assert payload["community"] is None
    assert payload["errors"][0]["code"] == "TOO_LONG"
    assert payload["errors"][0]["field"] == "name"
    assert "at most 120 characters" in payload["errors"][0]["message"]
    assert not Community.objects.exists()


def test_validation_errors_without_fields_keep_their_messages():
    errors = user_errors_of(ValidationError(["First problem.", "Second problem."]))
    assert [(e.code, e.field, e.message) for e in errors] == [
        ("INVALID", None, "First problem."),
        ("INVALID", None, "Second problem."),
    ]


def test_field_names_are_camel_cased():
    assert camel("closes_at") == "closesAt"
    assert camel("auto_approve_applications") == "autoApproveApplications"
    assert camel("title") == "title"


def test_decimal_scalar_is_fixed_point_both_ways():
    assert DECIMAL.serialize(Decimal("0E-8")) == "0.00000000"
    assert DECIMAL.serialize(Decimal("3.66666667")) == "3.66666667"
    assert DECIMAL.parse_value("2.5") == Decimal("2.5")
    with pytest.raises(ValueError, match="not a decimal number"):
        DECIMAL.parse_value("two")
