"""`connector_factory`: a `ConnectorFactory` from a function, for connector authors.

    from conformance import connector_factory

    factory = connector_factory(lambda ctx: MyAdapter(ctx), venues=("spot",), spec="mypkg.gate:factory")

`create(ctx)` builds an adapter (`conformance.protocol.ConnectorAdapter`) for one run from the
`ConnectorContext` (venue, dialect, the exchange's URLs, credentials, trading pairs, seed). `spec` is what the
replay commands print after `--connector`: give the `module:attr` that rebuilds this factory, so that a
failure's `conformance run ...` line can be pasted as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from .protocol import ConnectorAdapter, ConnectorContext, ConnectorFactory, Venue


class FunctionFactory:
    """A `ConnectorFactory` whose `create` is a function (see `connector_factory`)."""

    def __init__(self, create: Callable[[ConnectorContext], ConnectorAdapter], venues: tuple[Venue, ...],
                 dialects: frozenset[str] | None, spec: str) -> None:
        self._create = create
        self._venues = venues
        self.dialects = dialects
        self.spec = spec

    def venues(self, dialect: str) -> tuple[Venue, ...]:
        if self.dialects is not None and dialect not in self.dialects:
            return ()
        return self._venues

    def create(self, context: ConnectorContext) -> ConnectorAdapter:
        return self._create(context)

    def __repr__(self) -> str:
        return f"connector_factory({self.spec})"


def connector_factory(create: Callable[[ConnectorContext], ConnectorAdapter],
                      venues: Iterable[Venue | str] = (Venue.SPOT,), dialects: Iterable[str] | None = None,
                      spec: str | None = None) -> ConnectorFactory:
    """A factory calling `create(context)` for each connector instance a run needs.

    `venues`: what the connector trades (`"spot"`, `"perpetual"`), the same on every dialect it supports;
    `dialects`: the dialects it supports (None: every dialect); `spec`: the `--connector` value printed in
    replay commands (default: the function's qualified name, which is informative but not replayable).
    """
    chosen = tuple(Venue(v) for v in venues)
    if not chosen:
        raise ValueError("connector_factory: a connector supports at least one venue")
    name = spec or _describe(create)
    return FunctionFactory(create, chosen, frozenset(dialects) if dialects is not None else None, name)


def _describe(function: Any) -> str:
    module = getattr(function, "__module__", None) or "?"
    qualname = getattr(function, "__qualname__", None) or type(function).__name__
    return f"{module}:{qualname}"


def as_factory(value: object) -> ConnectorFactory:
    """What a conftest may supply, as a factory: a `ConnectorFactory`, a `--connector` string (`reference`,
    `hummingbot:...`, `module:attr`), or a function `create(context) -> adapter` (spot only; use
    `connector_factory` for more)."""
    from .adapters import resolve_connector

    if isinstance(value, str):
        return resolve_connector(value)
    if hasattr(value, "create") and hasattr(value, "venues") and not isinstance(value, type):
        return resolve_connector(cast(ConnectorFactory, value))
    if callable(value):
        return connector_factory(value)
    raise TypeError(f"not a connector: {value!r} (expected a ConnectorFactory, a --connector string such as "
                    f"'reference', or a function context -> adapter)")
