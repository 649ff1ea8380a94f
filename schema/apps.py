from django.apps import AppConfig


class SchemaConfig(AppConfig):
    name = "schema"
    verbose_name = "GraphQL schema"

    def ready(self) -> None:
        # Subscriptions live here, so the receivers that end them when access goes do too.
        from schema import access_changes

        access_changes.connect()
