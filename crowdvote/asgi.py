"""ASGI entry point: HTTP through Django, websockets to GraphQL, channel ``calc`` to the worker."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowdvote.settings")

import django

from crowdvote.handler import OneTripASGIHandler
from crowdvote.startup import secret_key_require, startup_objects_frozen
from crowdvote.static_files import StaticFilesHandler

secret_key_require()

# What ``get_asgi_application`` does, with the handler that runs a request in one trip.
django.setup(set_prefix=False)
# The project serves its own scripts and styles (widget, GraphiQL): no CDN, works offline.
django_asgi_app = StaticFilesHandler(OneTripASGIHandler())

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from calc.worker import CalcChannelRouter  # noqa: E402
from crowdvote.close_reasons import daphne_send_close_reasons  # noqa: E402
from crowdvote.daphne_http import daphne_http_trimmed  # noqa: E402
from crowdvote.daphne_memory import daphne_lean_connections  # noqa: E402
from crowdvote.socket_session import SocketSessionMiddleware  # noqa: E402
from schema.consumers import GraphQLSubscriptionConsumer  # noqa: E402

# Served by daphne (`serve`, or `daphne crowdvote.asgi:application`): send close reasons.
daphne_send_close_reasons()
daphne_lean_connections()  # after the above: its protocol keeps the close reasons
daphne_http_trimmed()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Sessions give browsers their cookie user; a bearer token in connection_init wins.
        "websocket": SocketSessionMiddleware(
            URLRouter([re_path(r"^graphql/?$", GraphQLSubscriptionConsumer.as_asgi())])
        ),
        "channel": CalcChannelRouter(),
    }
)

# Last: what the process imported and built at startup lives as long as it does.
startup_objects_frozen()
