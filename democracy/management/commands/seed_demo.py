from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User
from accounts.services.tokens import token_issue
from democracy.demo import demo_create
from democracy.models import Community


class Command(BaseCommand):
    help = "Create the demo communities, members, followings and decisions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing if any community exists."
        )

    def handle(self, *args: Any, if_empty: bool, **options: Any) -> None:
        if if_empty and Community.objects.exists():
            self.stdout.write(
                "Demo data: the database already has communities; kept as is. "
                "A token for scripts: python manage.py issue_token alice"
            )
            return
        demo = demo_create()
        names = ", ".join(c.name for c in demo.communities)
        self.stdout.write(f"Demo data created: {names}.")
        _, token = token_issue(user=User.objects.get(username="alice"), name="demo")
        self.stdout.write(f"Sign in as alice with the header  Authorization: Bearer {token}")
