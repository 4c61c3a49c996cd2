"""Service names → service objects (imported lazily: each module pulls its own client libs)."""

from __future__ import annotations

import importlib

from autograder.services.base import Service, ServiceError

# name → module under autograder.services (attribute in the module, default SERVICE)
MODULES: dict[str, tuple[str, str]] = {
    "aws": ("aws", "SERVICE"),
    "mlflow": ("mlflow", "SERVICE"),
    "postgres": ("postgres", "SERVICE"),
    "redis": ("redis", "SERVICE"),
    "kafka": ("kafka", "SERVICE"),
    "kafka-cluster": ("kafka", "CLUSTER"),
    "kafka-connect": ("kafka", "CONNECT"),
    "prometheus": ("prometheus", "SERVICE"),
    "containers": ("engine", "SERVICE"),
}
NAMES = tuple(MODULES)


def get(name: str) -> Service:
    try:
        module, attr = MODULES[name]
    except KeyError:
        raise ServiceError(f"unknown service {name!r}; known: {', '.join(NAMES)}") from None
    return getattr(importlib.import_module(f"autograder.services.{module}"), attr)


def closure(names: list[str]) -> list[str]:
    """The requested services plus their dependencies, dependencies first."""
    order: list[str] = []

    def visit(n: str, stack: tuple[str, ...]) -> None:
        if n in order:
            return
        if n in stack:
            raise ServiceError(f"dependency cycle: {' -> '.join((*stack, n))}")
        for dep in get(n).dependencies():
            visit(dep, (*stack, n))
        order.append(n)

    for n in names:
        visit(n, ())
    return order
