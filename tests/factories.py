"""The one factory module: users, communities, memberships, decisions, ballots."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import ApiToken, MagicLink, User
from accounts.services.tokens import hash_secret
from democracy.models import (
    Ballot,
    BallotStar,
    Choice,
    Community,
    Decision,
    DecisionStatus,
    Following,
    Membership,
    Role,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")


class CommunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Community

    name = factory.Sequence(lambda n: f"Community {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    community = factory.SubFactory(CommunityFactory)
    role = Role.VOTER
    is_approved = True


class FollowingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Following

    follower = factory.SubFactory(MembershipFactory)
    followee = factory.SubFactory(
        MembershipFactory, community=factory.SelfAttribute("..follower.community")
    )
    community = factory.SelfAttribute("follower.community")
    tags = factory.LazyFunction(list)


class DecisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Decision
        skip_postgeneration_save = True

    community = factory.SubFactory(CommunityFactory)
    title = factory.Sequence(lambda n: f"Decision {n}")
    status = DecisionStatus.OPEN
    closes_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))

    @factory.post_generation
    def choices(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        titles = extracted if extracted is not None else ["Yes", "No"]
        for position, title in enumerate(titles):
            Choice.objects.create(decision=self, title=title, position=position)


class BallotFactory(factory.django.DjangoModelFactory):
    """A direct ballot; pass ``stars={"Yes": 5}`` keyed by choice title."""

    class Meta:
        model = Ballot
        skip_postgeneration_save = True

    decision = factory.SubFactory(DecisionFactory)
    membership = factory.SubFactory(
        MembershipFactory, community=factory.SelfAttribute("..decision.community")
    )
    tags = factory.LazyFunction(list)

    @factory.post_generation
    def stars(self, create: bool, extracted: dict[str, int] | None, **kwargs: object) -> None:
        for title, value in (extracted or {}).items():
            choice = self.decision.choices.get(title=title)
            BallotStar.objects.create(ballot=self, choice=choice, stars=value)


class MagicLinkFactory(factory.django.DjangoModelFactory):
    """An unused sign-in link; pass ``token=`` to know its clear token."""

    class Meta:
        model = MagicLink

    class Params:
        token = factory.Sequence(lambda n: f"cvl_test-link-{n}")

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    token_hash = factory.LazyAttribute(lambda link: hash_secret(link.token))
    requested_ip = "127.0.0.1"
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=15))


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """An active API token; pass ``token=`` to know its clear token."""

    class Meta:
        model = ApiToken

    class Params:
        token = factory.Sequence(lambda n: f"cv_test-token-{n}")

    user = factory.SubFactory(UserFactory)
    name = "test"
    token_hash = factory.LazyAttribute(lambda api_token: hash_secret(api_token.token))
