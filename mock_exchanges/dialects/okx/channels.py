"""OKX WebSocket channels: which exist, what a subscription's `arg` looks like, and the hub topic of each.

Every push carries its subscription's `arg` (private ones add the account's `uid`), so a frame is encoded
once per distinct arg, never once per connection: the topic names the arg.
"""

from __future__ import annotations

from .formats import dumps

#: book channels and the depth each shows (`books` is OKX's 400-level channel; we push it tick by tick)
BOOK_DEPTHS = {"books": 400, "books-l2-tbt": 400, "books50-l2-tbt": 50}
#: public channels that only exist for swaps
SWAP_ONLY = ("funding-rate", "mark-price")
PUBLIC = (*BOOK_DEPTHS, "trades", "tickers", *SWAP_ONLY)
PRIVATE = ("orders", "account", "positions")
ORDER_INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY")
POSITION_INST_TYPES = ("MARGIN", "SWAP", "FUTURES", "OPTION", "ANY")
PREFIX = "okx:"


def public_topic(channel: str, inst_id: str) -> str:
    return f"{PREFIX}{channel}:{inst_id}"


def orders_topic(account_id: int, inst_type: str, inst_id: str) -> str:
    return f"{PREFIX}orders:{account_id}:{inst_type}:{inst_id}"


def positions_topic(account_id: int, inst_type: str, inst_id: str) -> str:
    return f"{PREFIX}positions:{account_id}:{inst_type}:{inst_id}"


def account_topic(account_id: int, ccy: str) -> str:
    return f"{PREFIX}account:{account_id}:{ccy}"


def public_arg(channel: str, inst_id: str) -> dict[str, str]:
    return {"channel": channel, "instId": inst_id}


def private_arg(channel: str, inst_type: str = "", inst_id: str = "", ccy: str = "", uid: str = "") -> dict[str, str]:
    """A private subscription's arg as acked (no uid) or as pushed (with the account's uid)."""
    arg = {"channel": channel}
    if inst_type:
        arg["instType"] = inst_type
    if inst_id:
        arg["instId"] = inst_id
    if ccy:
        arg["ccy"] = ccy
    if uid:
        arg["uid"] = uid
    return arg


def push(arg: dict[str, str], data_json: str, action: str | None = None) -> str:
    """A push message around already-encoded data (a JSON array)."""
    head = f'{{"arg":{dumps(arg)},'
    if action is not None:
        head += f'"action":"{action}",'
    return f'{head}"data":{data_json}}}'
