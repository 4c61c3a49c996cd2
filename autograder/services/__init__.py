"""Real local services for the labs: one module per service, started natively (or as containers).

Public API (wired into the `labs` CLI): `autograder.services.commands`.
"""
