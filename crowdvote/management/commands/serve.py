from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import get_channel_layer
from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from strawberry.relay import to_base64

from calc.queue import CALC_CHANNEL
from calc.worker import CalcWorker
from crowdvote.asgi import application
from democracy.models import Decision, DecisionStatus


class Command(BaseCommand):
    help = "Serve HTTP and websockets on one port (daphne), with the worker in the same process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Serve only; calculations run in separate `runworker calc` processes.",
        )

    def handle(self, *args: Any, host: str, port: int, no_worker: bool, **options: Any) -> None:
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        tasks: set[asyncio.Task[None]] = set()

        def ready() -> None:
            if not no_worker:
                # The worker shares daphne's event loop, so the in-memory layer is one layer.
                worker = CalcWorker(
                    application=application,
                    channels=[CALC_CHANNEL],
                    channel_layer=get_channel_layer(),
                )
                # Called before the reactor runs: the task starts with daphne's loop.
                tasks.add(asyncio.get_event_loop().create_task(worker.arun()))
            self.stdout.write(f"CrowdVote is serving on {base}")
            self.stdout.write(f"  GraphQL API:  {base}/graphql")
            if settings.GRAPHIQL_ENABLED:
                self.stdout.write(f"  GraphiQL:     {base}/graphql (open it in a browser)")
            self.stdout.write(f"  Admin:        {base}/admin/")
            for decision in Decision.objects.filter(status=DecisionStatus.OPEN).order_by("pk")[:3]:
                widget = f"{base}/widget/decisions/{to_base64('Decision', decision.pk)}/"
                self.stdout.write(f"  Live results: {widget}  ({decision.title})")
            self.stdout.write(
                f"  Worker:       {'separate processes' if no_worker else 'in this process'}"
            )
            self.stdout.flush()

        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            ready_callable=ready,
            verbosity=0,
        ).run()
