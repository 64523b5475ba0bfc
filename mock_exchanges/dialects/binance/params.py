"""Request parameters exactly as Binance reads them: query string plus form body, whatever the Content-Type.

Hummingbot posts form-encoded bodies labelled `application/json`; ccxt posts proper form bodies; both must
work. The raw strings are kept because signatures are computed over them as received.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from aiohttp import web

from .errors import BinanceError, illegal, mandatory

_DECIMAL = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
_INT = re.compile(r"^-?[0-9]{1,20}$")
MAX_BODY = 64 * 1024


Text = str  # `Params.str` shadows the builtin inside the class body


@dataclass(frozen=True)
class Params:
    values: dict[Text, Text]
    raw_query: Text
    raw_body: Text

    def str(self, name: Text, default: Text | None = None) -> Text | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        return value

    def required(self, name: Text) -> Text:
        value = self.str(name)
        if value is None:
            raise mandatory(name)
        return value

    def decimal(self, name: Text, required: bool = False) -> Decimal | None:
        value = self.required(name) if required else self.str(name)
        if value is None:
            return None
        if not _DECIMAL.match(value):
            raise illegal(name)
        try:
            return Decimal(value)
        except InvalidOperation:
            raise illegal(name) from None

    def int(self, name: Text, default: int | None = None, required: bool = False) -> int | None:
        value = self.required(name) if required else self.str(name)
        if value is None:
            return default
        if not _INT.match(value):
            raise illegal(name)
        return int(value)

    def bool(self, name: Text, default: bool = False) -> bool:
        value = self.str(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is 'true, false'.")
        return lowered == "true"


async def read_params(request: web.Request) -> Params:
    raw_query = request.raw_path.partition("?")[2]  # as sent: `query_string` is already percent-decoded
    raw_body = ""
    if request.can_read_body:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise BinanceError(-1101, "Too many parameters sent for this endpoint.", status=413)
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise BinanceError(-1101, "Too many parameters sent for this endpoint.", status=413)
        try:
            raw_body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BinanceError(-1100, "Illegal characters found in a parameter.") from None
    values: dict[str, str] = {}
    try:
        for source in (raw_body, raw_query):  # the query string wins when a name is in both
            seen: set[str] = set()
            for key, value in parse_qsl(source, keep_blank_values=True, strict_parsing=False):
                if key in seen:
                    raise BinanceError(-1101, "Duplicate values for a parameter detected.")
                seen.add(key)
                values[key] = value
    except ValueError:
        raise BinanceError(-1100, "Illegal characters found in a parameter.") from None
    return Params(values, raw_query, raw_body)
