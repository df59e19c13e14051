"""Platform: what every service shares: who calls (``principal``), coded errors, cursors, the
job queues fed by the outbox, idempotency, locks, service registration, the shared ports (invocation,
audit, outbox, unit of work, clock, vault) and models, and pure rules for money, signatures and masking.

Every module here is public to every service; nothing here imports a service.
"""
