"""Adapters from connectors to the kit's protocol, and `resolve_connector` for the CLI's `--connector`.

`--connector` accepts:
- `reference`: this project's reference connector (spot and perpetual);
- `hummingbot:<preset>` or `hummingbot:<module:Class>`: a Hummingbot connector (`binance`, `binance_perpetual`);
- `<module:attr>`: your own; `attr` is a `ConnectorFactory`, or a callable returning one.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..protocol import ConnectorAdapter, ConnectorContext, ConnectorFactory, Venue


class _Named:
    """A factory that lacks a `spec`, given the one it was resolved from (for replay commands)."""

    def __init__(self, factory: Any, spec: str) -> None:
        self.factory = factory
        self.spec = spec

    def venues(self, dialect: str) -> tuple[Venue, ...]:
        venues: tuple[Venue, ...] = tuple(self.factory.venues(dialect))
        return venues

    def create(self, context: ConnectorContext) -> ConnectorAdapter:
        adapter: ConnectorAdapter = self.factory.create(context)
        return adapter


def resolve_connector(spec: str | ConnectorFactory) -> ConnectorFactory:
    """The factory a `--connector` value names (a factory object is returned as it is)."""
    if not isinstance(spec, str):
        return spec
    if spec == "reference":
        from .reference import ReferenceFactory

        return ReferenceFactory()
    if spec.startswith("hummingbot:"):
        from .hummingbot import hummingbot_factory

        return hummingbot_factory(spec.removeprefix("hummingbot:"))
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--connector {spec!r}: expected reference, hummingbot:<name> or <module:factory>")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"--connector {spec!r}: {error}") from None
    if hasattr(target, "create") and hasattr(target, "venues") and not isinstance(target, type):
        factory = target
    elif callable(target):
        try:
            factory = target()
        except Exception as error:
            raise ValueError(f"--connector {spec!r}: calling {attr}() failed: {error!r}") from None
    else:
        factory = None
    if not (hasattr(factory, "create") and hasattr(factory, "venues")):
        raise ValueError(f"--connector {spec!r}: {attr} is not a connector factory (needs venues() and create())")
    # the replay command must name what the user named, whatever the factory calls itself
    return factory if getattr(factory, "spec", None) == spec else _Named(factory, spec)


__all__ = ["resolve_connector"]
