"""What a dialect is, and the registry `create_app` and the CLI look dialects up in."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aiohttp import web

    from ..server.exchange import MockExchange


class Dialect(Protocol):
    name: str

    def install(self, app: web.Application, exchange: MockExchange) -> None:
        """Add the dialect's routes to `app` and its event encoder to `exchange.hub`."""
        ...

    def describe(self, base_url: str) -> dict[str, str]:
        """The base URLs a client of this dialect points at, by purpose."""
        ...


_REGISTRY: dict[str, str] = {
    "binance": "mock_exchanges.dialects.binance:BinanceDialect",
    "bitstamp": "mock_exchanges.dialects.bitstamp:BitstampDialect",
    "okx": "mock_exchanges.dialects.okx:OkxDialect",
}


def register_dialect(name: str, target: str) -> None:
    """Make a dialect available by name; `target` is "module:Class"."""
    _REGISTRY[name] = target


def dialect_names() -> list[str]:
    return sorted(_REGISTRY)


def get_dialect(name: str) -> Dialect:
    try:
        module_name, _, class_name = _REGISTRY[name].partition(":")
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}; known: {', '.join(dialect_names())}") from None
    dialect: Dialect = getattr(importlib.import_module(module_name), class_name)()
    return dialect
