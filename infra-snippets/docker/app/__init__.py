"""Tiny model server and trainer used by the Dockerfile snippets."""
