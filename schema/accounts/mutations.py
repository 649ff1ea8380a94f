"""Sign-in mutations: magic links, bearer tokens, sign-out."""

from __future__ import annotations

import strawberry


@strawberry.type
class AccountsMutation:
    pass
