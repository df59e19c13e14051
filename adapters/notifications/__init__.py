"""Systems the notifications service reaches outside the database, behind ``tools.notifications.ports``."""
