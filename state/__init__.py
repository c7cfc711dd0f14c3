"""The ledger: SQLAlchemy models and the store. Imports only the leaf layer of ``migrate``."""
