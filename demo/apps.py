from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data across every app. It sits on top of all of them and nothing imports it."""

    name = "demo"
    verbose_name = "Demo data"
