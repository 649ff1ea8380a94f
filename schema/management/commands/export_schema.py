from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from schema.schema import schema


class Command(BaseCommand):
    help = "Print the GraphQL schema (SDL) to standard output."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(schema.as_str())
