"""Wire dialects: each maps engine events to its messages and its requests to engine commands."""

from __future__ import annotations

from .base import Dialect, get_dialect, register_dialect

__all__ = ["Dialect", "get_dialect", "register_dialect"]
