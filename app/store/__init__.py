"""Persistence: SQLModel tables, the append-only event store, idempotency keys, users and rooms."""
