"""The SQL of the notifications service: repositories behind ``tools.notifications.ports``."""
