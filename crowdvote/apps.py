from django.apps import AppConfig


class CrowdVoteConfig(AppConfig):
    name = "crowdvote"
    verbose_name = "System"
