"""The publisher console: server-rendered pages for the staff who run the shows."""
