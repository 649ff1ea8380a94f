from django.apps import AppConfig


class CalcConfig(AppConfig):
    name = "calc"
    verbose_name = "Calculations"

    def ready(self) -> None:
        # calc listens to democracy's model changes; democracy never imports calc.
        from calc import triggers

        triggers.connect()
