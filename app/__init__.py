"""Podpass: a private podcast feed server."""
