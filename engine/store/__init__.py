"""Persistence: tables, the database, the unit of work, the audit chain, the outbox and the caches."""
