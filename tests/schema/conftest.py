from __future__ import annotations

from django.db.models import Model
from strawberry.relay import to_base64

TYPE_NAMES = {"Community", "Membership", "Decision", "Choice", "User"}


def gid(obj: Model) -> str:
    """Return the global ID of a model instance as the API shows it."""
    name = type(obj).__name__
    assert name in TYPE_NAMES, name
    return to_base64(name, obj.pk)
