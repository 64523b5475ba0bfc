"""A bounded log of level changes, enough to rebuild the L2 book at any recent update id."""

from __future__ import annotations

from collections import deque

# (update_id, is_bid, ticks, lots_before, lots_after)
LevelChange = tuple[int, bool, int, int, int]


class BookHistory:
    def __init__(self, window: int) -> None:
        self.window = window
        self._changes: deque[LevelChange] = deque(maxlen=window)

    def record(self, change: LevelChange) -> None:
        self._changes.append(change)

    @property
    def oldest_reachable_id(self) -> int | None:
        """The smallest update id whose book can still be rebuilt (the id just before the oldest change)."""
        if not self._changes:
            return None
        return self._changes[0][0] - 1

    def rewind(
        self, bids: dict[int, int], asks: dict[int, int], current_id: int, target_id: int
    ) -> tuple[dict[int, int], dict[int, int]]:
        """Copies of `bids`/`asks` (the book at `current_id`) rolled back to `target_id`."""
        if target_id > current_id:
            raise ValueError(f"update id {target_id} is in the future (current {current_id})")
        if target_id < current_id:
            oldest = self.oldest_reachable_id
            if oldest is None or target_id < oldest:
                raise LookupError(
                    f"update id {target_id} is older than the history window (oldest {oldest})"
                )
        bids, asks = dict(bids), dict(asks)
        for update_id, is_bid, ticks, before, _after in reversed(self._changes):
            if update_id <= target_id:
                break
            side = bids if is_bid else asks
            if before:
                side[ticks] = before
            else:
                side.pop(ticks, None)
        return bids, asks
