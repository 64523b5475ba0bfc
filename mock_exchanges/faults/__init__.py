"""The fault layer: what each client gets to see of the engine's truth, and when.

Dialects call into it at three places (everything else is wired by the server):
- `exchange.faults.snapshot_update_id(symbol, levels)` in the REST order-book snapshot handler: when it returns an
  update id, serve `engine.book_at(symbol, update_id, depth)` instead of the current book (stale snapshot).
- `exchange.faults.before_cancel(symbol, account_id, order_id)` at the top of a cancel handler (the
  cancel/fill race may fill the order first, through the engine, as a market participant would).
- `Dialect.rest_roles` and `Dialect.rest_error(...)`: which routes create/cancel orders and serve
  snapshots, and how the dialect spells a 429/418/5xx/unknown-status error.
WebSocket frames are filtered per connection by the metadata on `Frame` (channel, symbol, update ids, user
event kind), so a dialect only has to tag its frames and set `conn.terminate` / `conn.unknown_event`, and, if its
book messages carry a checksum, `conn.corrupt` (the `corrupt` fault: content wrong, ids and checksum kept) and a
true `book_checksum` attribute on the dialect (a capability: `schedule.CAPABILITIES`).
"""

from .controller import FaultController
from .schedule import FaultKind, FaultRule, Schedule, generate
from .transcript import Transcript, read_transcript

__all__ = ["FaultController", "FaultKind", "FaultRule", "Schedule", "Transcript", "generate", "read_transcript"]
