#!/usr/bin/env python
"""Django's command-line utility for CrowdVote."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowdvote.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from crowdvote.startup import secret_key_require

    try:
        secret_key_require()
    except ImproperlyConfigured as error:
        sys.exit(f"Refusing to start: {error}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
