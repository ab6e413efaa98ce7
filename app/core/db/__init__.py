"""The database: the declarative base and its column types (schema), the engine tuned for
SQLite and PostgreSQL (engine), the raw queries of the hot paths (hot), and the request-scoped
transaction with its hooks (session)."""
