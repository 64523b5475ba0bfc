"""The named scenarios: each fault alone, and the realistic mixes.

Channel and role names are the fault layer's (depth, trade, mark, user; create, cancel, snapshot), so a scenario
runs on every dialect, unless it needs a dialect capability (`Scenario.needs`): `corrupt_book` corrupts book
messages, which only a book checksum can reveal, so it applies to dialects whose book messages carry one (OKX) and
is reported as not applicable elsewhere; `merged_depth` needs depth streams that can be merged per interval as the
venue documents them (Binance). Durations are short on purpose: the whole catalog is a CI gate.
"""

from __future__ import annotations

from ..faults import FaultKind as K
from ..faults import FaultRule as R
from .scenario import Action, ActionKind, OrderActivity, Scenario

PERP = "BTCUSDT-PERP"

_SCENARIOS = [
    Scenario("calm", "No faults: the baseline every connector must pass."),
    Scenario("out_of_order", "Diffs arrive out of order: one in 50 is held behind the next two.", faults=(
        R(K.REORDER, channel="depth", probability=0.02, hold=2),
    )),
    Scenario("gaps", "Missing update ids: about one diff in 100 never arrives.", faults=(
        R(K.DROP, channel="depth", probability=0.01),
        R(K.DROP, channel="depth", at_message=25),
    )),
    Scenario("duplicates", "Diffs and fills delivered twice.", faults=(
        R(K.DUPLICATE, channel="depth", probability=0.03),
        R(K.DUPLICATE, channel="user", user_kind="fill", probability=0.5),
    )),
    Scenario("stale_snapshot", "The first snapshot is older than the diffs already sent; another answers late.",
             faults=(
                 R(K.STALE_SNAPSHOT, at_message=1, lag=400),
                 R(K.SLOW_RESPONSE, role="snapshot", at_message=2, delay_ms=300),
                 R(K.STALE_SNAPSHOT, at_message=3, lag=5),
             )),
    Scenario("disconnects", "Streams cut without a close frame, closed with a reason, and a refused reconnect.",
             faults=(
                 R(K.DISCONNECT, channel="depth", at_message=150),
                 R(K.CLOSE, channel="user", at_message=4, close_code=1001, reason="server restarting"),
                 R(K.REFUSE_CONNECT, start_s=1.0, end_s=1.6),
             ), duration_s=5.0),
    Scenario("stalls", "The depth stream goes silent with the socket open.", faults=(
        R(K.STALL, channel="depth", at_message=120, duration_s=30.0),
    ), duration_s=6.0),
    Scenario("rate_limits", "429s, a short ban and 5xx answers on REST.", faults=(
        R(K.RATE_LIMIT, role="snapshot", at_message=1, retry_after_s=1),
        R(K.RATE_LIMIT, role="create", probability=0.15, retry_after_s=1),
        R(K.SERVER_ERROR, role="cancel", probability=0.15),
        R(K.BAN, role="query", at_message=2, retry_after_s=1),
    )),
    Scenario("cancel_fill_race", "Cancels that lose the race to a fill; creates whose answer is lost.", faults=(
        R(K.CANCEL_FILL_RACE, probability=0.4),
        R(K.UNKNOWN_STATUS, role="create", at_message=2),
        R(K.TIMEOUT, role="create", at_message=4, duration_s=0.5, executed=True),
    )),
    Scenario("user_stream_loss", "Order and fill events dropped, a fill before its ack, the stream terminated.",
             faults=(
                 R(K.DROP, channel="user", user_kind="order", probability=0.3),
                 R(K.DROP, channel="user", user_kind="fill", probability=0.2),
                 R(K.FILL_BEFORE_ACK, channel="user", probability=0.5),
                 R(K.TERMINATE, channel="user", at_message=12),
             ), duration_s=5.0),
    Scenario("funding", "Funding rate changes, irregular mark updates, a stalled funding feed, a settlement "
             "while the user stream is down.", faults=(
                 R(K.DELAY, channel="mark", probability=0.3, delay_ms=40, jitter_ms=200),
                 R(K.STALL, channel="mark", start_s=1.0, end_s=1.2, duration_s=1.0),
                 R(K.DISCONNECT, channel="user", start_s=2.0, end_s=2.2),
             ), actions=(
                 Action(0.5, ActionKind.SET_FUNDING_RATE, PERP, "0.0003"),
                 Action(2.1, ActionKind.TRIGGER_FUNDING, PERP),
                 Action(3.0, ActionKind.SET_FUNDING_RATE, PERP, "-0.0001"),
             ), orders=OrderActivity(orders_per_s=2.0, marketable_ratio=0.6), duration_s=5.0,
             levels=("perpetuals",)),
    Scenario("chaos", "Everything at once, at lower rates.", faults=(
        R(K.DROP, channel="depth", probability=0.005),
        R(K.REORDER, channel="depth", probability=0.01, hold=3),
        R(K.DUPLICATE, channel="depth", probability=0.01),
        R(K.UNKNOWN_EVENT, channel="depth", probability=0.005),
        R(K.DROP, channel="user", probability=0.1),
        R(K.DUPLICATE, channel="user", user_kind="fill", probability=0.2),
        R(K.STALE_SNAPSHOT, probability=0.3, lag=200),
        R(K.RATE_LIMIT, role="create", probability=0.1),
        R(K.SERVER_ERROR, role="query", probability=0.1),
        R(K.CANCEL_FILL_RACE, probability=0.2),
        R(K.DISCONNECT, channel="depth", at_message=400),
    ), actions=(Action(2.0, ActionKind.TRIGGER_FUNDING, PERP),), duration_s=6.0),
    Scenario("merged_depth", "Depth diffs at the venue's documented speed: one frame per interval merges its "
             "changes, so a frame's U..u spans many update ids and the snapshot lands inside one; one is lost.",
             faults=(R(K.DROP, channel="depth", at_message=12),), batch_depth=True),
    Scenario("corrupt_book", "Book pushes whose content is wrong but whose sequence is right: only the checksum "
             "tells.", faults=(
                 R(K.CORRUPT, channel="depth", at_message=30),
                 R(K.CORRUPT, channel="depth", probability=0.01),
             )),
]

CATALOG: dict[str, Scenario] = {s.name: s for s in _SCENARIOS}


def scenario_names() -> list[str]:
    return list(CATALOG)


def get_scenario(name: str, seed: int | None = None) -> Scenario:
    try:
        scenario = CATALOG[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(CATALOG)}") from None
    return scenario.with_seed(seed) if seed is not None else scenario
