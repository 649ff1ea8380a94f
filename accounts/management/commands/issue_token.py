"""``manage.py issue_token NAME [NAME …]``: accounts and bearer tokens for scripts."""

from __future__ import annotations

from argparse import ArgumentParser

from django.core.management.base import BaseCommand, CommandError

from accounts.services.tokens import token_issue_for_usernames
from core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Create each user that does not exist yet, issue a new API token to each, and print "
        "'NAME TOKEN' per line. Existing users keep their other tokens."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("names", nargs="+", metavar="NAME", help="a username")

    def handle(self, *args: object, names: list[str], **options: object) -> None:
        try:
            issued = token_issue_for_usernames(usernames=names)
        except DomainError as error:
            raise CommandError(error.message) from None
        for item in issued:
            self.stdout.write(f"{item.username} {item.token}")
