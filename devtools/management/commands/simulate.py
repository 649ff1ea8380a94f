from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools.simulation import Simulation, paced


class Command(BaseCommand):
    help = "Keep casting ballots and changing follows through the API so results visibly move."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=1.0, help="Actions per second.")
        parser.add_argument("--url", default="http://127.0.0.1:8000/graphql")
        parser.add_argument("--seconds", type=float, default=None, help="Stop after this long.")
        parser.add_argument("--seed", type=int, default=None, help="Repeat the same actions.")

    def handle(
        self,
        *args: Any,
        rate: float,
        url: str,
        seconds: float | None,
        seed: int | None,
        **options: Any,
    ) -> None:
        if rate <= 0:
            raise CommandError("--rate must be above 0 actions per second.")
        simulation = Simulation(url=url, seed=seed)
        if not simulation.decisions:
            raise CommandError("No open decision to vote on: run `seed_demo` or publish one.")
        self.stdout.write(f"Simulating {rate:g} actions/s against {url} (Ctrl-C stops).")
        try:
            for _ in paced(rate, seconds):
                action = simulation.next_action()
                try:
                    outcome = simulation.perform(action)
                except OSError as error:
                    raise CommandError(f"The server at {url} did not answer: {error}") from error
                self.stdout.write(f"{action.description}: {outcome}")
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
        finally:
            simulation.close()
