"""Stable pseudonyms for anonymous members: a keyed hash of the membership."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.crypto import salted_hmac

if TYPE_CHECKING:
    from democracy.models import Membership

ADJECTIVES = (
    "Amber",
    "Brave",
    "Calm",
    "Clever",
    "Gentle",
    "Golden",
    "Honest",
    "Kind",
    "Lively",
    "Lucky",
    "Mellow",
    "Nimble",
    "Patient",
    "Quiet",
    "Rapid",
    "Silver",
    "Steady",
    "Sunny",
    "Swift",
    "Wise",
)
ANIMALS = (
    "Badger",
    "Crane",
    "Dolphin",
    "Falcon",
    "Fox",
    "Hare",
    "Heron",
    "Ibis",
    "Lynx",
    "Marten",
    "Otter",
    "Owl",
    "Panda",
    "Puffin",
    "Raven",
    "Robin",
    "Seal",
    "Swan",
    "Wolf",
    "Wren",
)


def pseudonym(membership_id: int) -> str:
    """Return the pseudonym of a membership, e.g. ``"Quiet Otter 3f9a"``.

    HMAC with the server secret: stable for a membership, not reversible without the key,
    and different across communities because memberships are.
    """
    digest = salted_hmac("crowdvote.pseudonym", str(membership_id), algorithm="sha256").digest()
    adjective = ADJECTIVES[digest[0] % len(ADJECTIVES)]
    animal = ANIMALS[digest[1] % len(ANIMALS)]
    return f"{adjective} {animal} {digest[2:4].hex()}"


def display_name(membership: Membership) -> str:
    """Return the name shown for a member: their pseudonym when anonymous."""
    if membership.is_anonymous:
        return pseudonym(membership.pk)
    return membership.user.get_username()
