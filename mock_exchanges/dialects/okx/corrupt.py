"""The `corrupt` fault on OKX books pushes: one level sent with a wrong size, the ids and the checksum the truth's.

The push keeps its `seqId`/`prevSeqId` (the chain stays unbroken) and its `checksum` (of the true book after the
update), so only the checksum can tell a client that the book it builds from this push is wrong: a client that
verifies it sees a mismatch and resubscribes; one that does not holds a wrong level while claiming the update's
`seqId`.

The level is chosen so that the checksum must tell: it is inside the top 25 levels of its side once the update is
applied (a change below them would not show in the checksum, which covers the top 25 only). Preferably a level
the update itself carries, whose size is changed to another non-zero one (a deleted level then stays, at a size
the market never had there: a level that does not exist); when the update carries none inside the top 25 (a
change of deeper levels only, or an empty update), an untouched level of the top 25 is added to the update at
another size. The new size is one to five lots away from the true one, never zero, and every choice comes from
the connection's seeded random stream, so a seed always corrupts the same levels the same way.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

from ...frames import Channel, Frame
from .books import CHECKSUM_DEPTH, Lots, checksum_of, to_lots
from .context import OkxContext
from .formats import dumps
from .instruments import Instrument

#: the most lots a corrupted size is away from the true one
MAX_SHIFT_LOTS = 5


def corrupt_books_push(ctx: OkxContext, frame: Frame, text: str,
                       rng: random.Random) -> tuple[str, dict[str, Any]] | None:
    """`text` (a books `update` push) with one level's size changed, and what was changed (for the fault log);
    None when the frame is not a books update with a checksum (nothing a client could verify)."""
    inst = ctx.by_symbol.get(frame.symbol)
    if frame.channel != Channel.DEPTH or inst is None or not ctx.send_checksum:
        return None
    message = json.loads(text)
    if message.get("action") != "update" or len(message.get("data") or ()) != 1:
        return None
    data = message["data"][0]
    truth = _truth(ctx, inst, frame.last_update_id)
    if truth is None:
        return None
    choices = _from_update(inst, data, truth) or _untouched(data, truth)
    rng.shuffle(choices)
    for side, ticks in choices:
        is_bid = side == "bids"
        true_lots = dict(truth[0] if is_bid else truth[1]).get(ticks, 0)
        lots = _other_size(true_lots, rng)
        if _checksum(inst, truth, is_bid, ticks, lots) == data["checksum"]:
            continue  # a CRC32 collision (about one in 4e9): the checksum could not tell, try another level
        rows: list[list[str]] = data[side]
        px, sz = inst.px_ticks(ticks), inst.sz_lots(lots)
        row = next((r for r in rows if _ticks(inst, r[0]) == ticks), None)
        if row is None:  # an untouched level, added where OKX would put it (best first)
            rows.append([px, sz, "0", _orders(ctx, inst, is_bid, ticks)])
            rows.sort(key=lambda r: _ticks(inst, r[0]), reverse=is_bid)
        else:
            row[1] = sz
            if row[3] == "0":  # a deletion turned into a level: it needs an order count
                row[3] = "1"
        changed = f"{side[:-1]} {px}: sent {sz}, truth {inst.sz_lots(true_lots) if true_lots else 'no level'}"
        return dumps(message), {"update_id": frame.last_update_id, "changed": changed}
    return None


def _truth(ctx: OkxContext, inst: Instrument, update_id: int) -> tuple[Lots, Lots] | None:
    """The exchange's top levels (one more than the checksum covers) right after `update_id`: the live book when
    the push is being sent as the engine publishes it (always, but be safe), else rebuilt from the history."""
    depth = CHECKSUM_DEPTH + 1
    market = ctx.engine.markets[inst.symbol]
    if market.last_update_id == update_id:
        return market.bids.depth(depth), market.asks.depth(depth)
    try:
        past = ctx.engine.book_at(inst.symbol, update_id, depth)
    except (LookupError, ValueError):
        return None
    return to_lots(inst, past.bids), to_lots(inst, past.asks)


def _ticks(inst: Instrument, px: str) -> int:
    return int(Decimal(px) / inst.spec.tick_size)


def _in_checksum(levels: Lots, is_bid: bool, ticks: int) -> bool:
    """Whether a level at `ticks` is inside the top 25 of a side whose true levels are `levels`."""
    if any(t == ticks for t, _ in levels[:CHECKSUM_DEPTH]):
        return True
    if len(levels) < CHECKSUM_DEPTH:
        return True  # a short side: a level added anywhere is inside
    worst = levels[CHECKSUM_DEPTH - 1][0]
    return ticks > worst if is_bid else ticks < worst


def _from_update(inst: Instrument, data: dict[str, Any], truth: tuple[Lots, Lots]) -> list[tuple[str, int]]:
    """The levels the update carries that lie inside the checksum's top 25 once it is applied."""
    found = []
    for side, levels, is_bid in (("bids", truth[0], True), ("asks", truth[1], False)):
        for row in data[side]:
            ticks = _ticks(inst, row[0])
            if _in_checksum(levels, is_bid, ticks):
                found.append((side, ticks))
    return found


def _untouched(data: dict[str, Any], truth: tuple[Lots, Lots]) -> list[tuple[str, int]]:
    """Levels of the top 25 the update does not carry (it carries none inside them)."""
    return [(side, ticks) for side, levels in (("bids", truth[0]), ("asks", truth[1]))
            for ticks, _ in levels[:CHECKSUM_DEPTH]]


def _other_size(true_lots: int, rng: random.Random) -> int:
    shift = rng.randint(1, MAX_SHIFT_LOTS)
    if true_lots > shift and rng.random() < 0.5:
        return true_lots - shift
    return true_lots + shift


def _checksum(inst: Instrument, truth: tuple[Lots, Lots], is_bid: bool, ticks: int, lots: int) -> int:
    """The checksum of the book a client builds from the corrupted push: the truth with that one level changed."""
    sides = []
    for levels, bid_side in ((truth[0], True), (truth[1], False)):
        book = dict(levels)
        if bid_side == is_bid:
            book[ticks] = lots
        top = sorted(book.items(), reverse=bid_side)[:CHECKSUM_DEPTH]
        sides.append([f"{inst.px_ticks(t)}:{inst.sz_lots(q)}" for t, q in top])
    return checksum_of(sides[0], sides[1])


def _orders(ctx: OkxContext, inst: Instrument, is_bid: bool, ticks: int) -> str:
    side = ctx.engine.markets[inst.symbol].bids if is_bid else ctx.engine.markets[inst.symbol].asks
    queue = side.queues.get(ticks)
    return str(len(queue)) if queue else "1"
