"""Notifications: telling borrowers each step (in-app, SMS, email), reminders, their inbox and
preferences, support chat, and the Supabase mirror of application statuses.

Other services may import ``ports``, ``models``, ``domain`` and the modules named in ``__all__``;
every other module is this service's own (``tests/test_layers.py`` holds it).
"""

__all__ = ["domain", "models", "ports"]
