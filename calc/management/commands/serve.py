from __future__ import annotations

from typing import Any

from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from crowdvote.asgi import application


class Command(BaseCommand):
    help = "Serve HTTP and websockets on one port (daphne), with the worker in the same process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"

        def ready() -> None:
            self.stdout.write(f"CrowdVote is serving on {base}")
            self.stdout.write(f"  GraphQL API:  {base}/graphql")
            if settings.GRAPHIQL_ENABLED:
                self.stdout.write(f"  GraphiQL:     {base}/graphql (open it in a browser)")
            self.stdout.write(f"  Admin:        {base}/admin/")
            self.stdout.flush()

        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            ready_callable=ready,
            verbosity=0,
        ).run()
