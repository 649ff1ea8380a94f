from django.apps import AppConfig


class DemocracyConfig(AppConfig):
    name = "democracy"
    verbose_name = "Communities and decisions"
