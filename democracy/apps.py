from django.apps import AppConfig


class DemocracyConfig(AppConfig):
    name = "democracy"
    verbose_name = "Communities and decisions"

    def ready(self) -> None:
        from democracy import signals

        signals.connect()
