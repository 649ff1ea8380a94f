"""Page windows: ``GRAPHQL_MAX_PAGE_SIZE`` is the largest page of every connection.

The schema's ``relay_max_results`` is set from it, so every connection refuses a ``first``
or ``last`` above it with "Argument 'first' cannot be higher than N." and answers a page of
that size when neither is given. A connection built by hand reads its window here, with
the same arguments, cursors and errors.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from strawberry.relay.utils import SliceMetadata

from schema.context import Info


def page_window(
    info: Info,
    *,
    count: Callable[[], int],
    prefix: str,
    before: str | None,
    after: str | None,
    first: int | None,
    last: int | None,
) -> tuple[int, int]:
    """Return the offsets [start, end) of the page the Relay arguments ask for.

    ``count`` is called only when ``last`` counts back from the end of the list.
    """
    window = SliceMetadata.from_arguments(
        info, before=before, after=after, first=first, last=last, prefix=prefix
    )
    start, end = window.start, window.end
    if end == sys.maxsize:
        end = count()
        start = max(start, end - (last or 0))
    return start, max(start, end)
