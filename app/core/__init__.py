"""Shared infrastructure: settings, the database, errors, logs, tokens, links and the
request dependencies every domain uses. Nothing here imports a domain."""
