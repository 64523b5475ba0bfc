"""The fault filter of one WebSocket connection: engine frames in, what the client gets (and when) out.

Frames pass through three stages, in this order:
1. the rules: drop, duplicate, reorder, stall, burst, delay, unknown event, fill-before-ack, corrupt, close...;
2. the delay line (frames wait for their release time, order kept) and the burst buffer;
3. the wire: `conn.send_text`, after which frames held for reordering or for a fill are released.
Timed releases are driven by `poll(now_us)`, which the exchange's tick loop calls (and a loop timer on a
wall clock), so a virtual clock gives the same result on every run.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..frames import Frame, UserKind
from .cursor import RuleCursor
from .schedule import FaultKind

if TYPE_CHECKING:
    from ..server.connection import ClientConnection
    from .controller import FaultController

#: how long an ack held for its fill waits at most before it goes out anyway
ACK_HOLD_LIMIT_US = 2_000_000

#: a dialect's `conn.corrupt`: (frame, its text on this connection, the connection's corruption random stream) ->
#: (the text to send instead, what was changed for the fault record) or None (this frame cannot be corrupted)
CorruptHook = Callable[[Frame, str, random.Random], tuple[str, dict[str, Any]] | None]


class ConnectionFaults:
    def __init__(self, controller: FaultController, conn: ClientConnection, cursors: list[RuleCursor],
                 ordinal: int) -> None:
        self.controller = controller
        self.conn = conn
        self.cursors = cursors
        #: the cursors whose rule could select a frame of a channel (no channel, or that one), per channel
        self._by_channel: dict[str, list[RuleCursor]] = {}
        self.ordinal = ordinal
        self.counts: dict[str, int] = {}
        self.stall_until_us = 0
        self._delay_until_us = 0
        self._delay_line: deque[tuple[int, str]] = deque()
        self._burst: list[str] = []
        self._burst_size = 0
        #: frames written so far by the fault filter, and frames held for reordering: (release after, text)
        self._written = 0
        self._reordered: list[tuple[int, str]] = []
        #: acks held until their order's fill: order id -> (deadline, text)
        self._acks: dict[int, tuple[int, str]] = {}
        self._jitter = random.Random(f"{controller.schedule.seed}:jitter:{ordinal}")
        self._corruption = random.Random(f"{controller.schedule.seed}:corrupt:{ordinal}")
        self._timer: asyncio.TimerHandle | None = None
        self._now_us = controller.engine.clock.now_us  # `controller.now_us`, one call fewer per frame

    # --- stage 1: rules ------------------------------------------------------------------------
    def on_frame(self, frame: Frame, text: str) -> None:
        now = self._now_us()
        channel = frame.channel
        index = self.counts[channel] = self.counts.get(channel, 0) + 1
        if now < self.stall_until_us:
            self._note("stall", channel, index, None)
            return
        candidates = self._by_channel.get(channel)
        if candidates is None:
            candidates = self._by_channel[channel] = [
                c for c in self.cursors if c.rule.channel is None or c.rule.channel == channel]
        fired: list[RuleCursor] = []
        if candidates and not self.controller.quiet:
            elapsed = self.controller.elapsed_s(now)
            fired = [c for c in candidates if c.hits(frame, elapsed)]
        if not fired:
            if self._delay_line or self._burst_size or now < self._delay_until_us:
                self._stage2(text, now)
            else:  # nothing held or delayed: straight to the wire (what `_stage2` would do, one frame the faster)
                self._wire(text)
            if self._acks and frame.kind == UserKind.FILL:
                self._release_ack(frame.order_id, now)
            return
        copies = 1
        hold_for_fill = False
        reorder = 0
        corrupted = False
        after: list[RuleCursor] = []
        for cursor in fired:
            rule = cursor.rule
            kind = rule.kind
            if kind is FaultKind.CORRUPT:  # noted with what was changed, and only when something was
                if not corrupted:
                    text, corrupted = self._corrupt(frame, text, index, cursor.index)
                continue
            self._note(kind.value, channel, index, cursor.index)
            if kind is FaultKind.DROP:
                copies = 0
            elif kind is FaultKind.DUPLICATE:
                copies += 1
            elif kind is FaultKind.STALL:
                self.stall_until_us = now + int(rule.duration_s * 1e6)
                copies = 0
            elif kind is FaultKind.REORDER:
                reorder = max(reorder, rule.hold)
            elif kind is FaultKind.DELAY:
                jitter = self._jitter.random() * rule.jitter_ms if rule.jitter_ms else 0.0
                self._delay_until_us = max(self._delay_until_us, now + int((rule.delay_ms + jitter) * 1000))
            elif kind is FaultKind.BURST:
                self._burst_size = max(self._burst_size, rule.hold)
            elif kind is FaultKind.UNKNOWN_EVENT:
                if self.conn.unknown_event is not None:
                    self._stage2(self.conn.unknown_event(), now)
            elif kind is FaultKind.FILL_BEFORE_ACK:
                hold_for_fill = frame.kind == UserKind.ORDER and frame.order_id != 0
            else:  # DISCONNECT, CLOSE, TERMINATE act after the frame
                after.append(cursor)
        if after and copies:
            copies = 0  # the connection ends instead of delivering this frame
        if hold_for_fill and copies:
            self._acks[frame.order_id] = (now + ACK_HOLD_LIMIT_US, text)
            self._arm(now + ACK_HOLD_LIMIT_US)
        elif reorder and copies:
            for _ in range(copies):
                self._reordered.append((self._written + reorder, text))
        else:
            for _ in range(copies):
                self._stage2(text, now)
        if self._acks and frame.kind == UserKind.FILL and copies:
            self._release_ack(frame.order_id, now)
        for cursor in after:
            self._end(cursor.rule.kind, cursor.rule.close_code, cursor.rule.reason)

    def stalled(self) -> bool:
        """Inside a STALL: the socket stays open and nothing at all is written to it."""
        return self.stall_until_us > 0 and self.controller.now_us() < self.stall_until_us

    def _end(self, kind: FaultKind, code: int, reason: str) -> None:
        if kind is FaultKind.DISCONNECT:
            self.conn.abort()
        elif kind is FaultKind.CLOSE:
            self.conn.close_soon(code, reason or "closed by the fault schedule", after_flush=True)
        elif self.conn.terminate is not None:
            self.conn.terminate()
        else:
            self.conn.close_soon(code, reason or "stream terminated", after_flush=True)

    def _note(self, kind: str, channel: str, index: int, rule: int | None) -> None:
        self.controller.record_fault(kind, rule, conn=self.ordinal, ch=channel, i=index)

    def _corrupt(self, frame: Frame, text: str, index: int, rule: int) -> tuple[str, bool]:
        """The frame's text as the dialect corrupts it (content wrong, ids and checksum kept), and whether it did.

        A connection whose dialect has no book checksum has no hook: the frame goes out as it is, and nothing is
        recorded (a schedule with such a rule is refused where no served dialect has one: `FaultController`). So
        is a frame the hook cannot corrupt (not a book update, a book without a checksum)."""
        hook = self.conn.corrupt
        done = hook(frame, text, self._corruption) if hook is not None else None
        if done is None:
            return text, False
        corrupted, where = done
        self.controller.record_fault(FaultKind.CORRUPT.value, rule, conn=self.ordinal, ch=frame.channel, i=index,
                                     **where)
        return corrupted, True

    # --- stage 2: delay line and bursts -----------------------------------------------------------
    def _stage2(self, text: str, now: int) -> None:
        if self._delay_line or now < self._delay_until_us:
            self._delay_line.append((self._delay_until_us, text))
            self._arm(self._delay_until_us)
            return
        self._stage3(text)

    def _stage3(self, text: str) -> None:
        if self._burst_size:
            self._burst.append(text)
            if len(self._burst) < self._burst_size:
                return
            held, self._burst, self._burst_size = self._burst, [], 0
            for item in held:
                self._wire(item)
            return
        self._wire(text)

    # --- stage 3: the wire, and what waits for it --------------------------------------------------
    def _wire(self, text: str) -> None:
        self.conn.send_text(text)
        self._written += 1
        if self._reordered:
            due = [entry for entry in self._reordered if entry[0] <= self._written]
            for entry in due:
                self._reordered.remove(entry)
                self.conn.send_text(entry[1])

    def _release_ack(self, order_id: int, now: int) -> None:
        """The held ack goes out right behind its order's fill (through the same delay line)."""
        held = self._acks.pop(order_id, None)
        if held is not None:
            self._stage2(held[1], now)

    def poll(self, now_us: int) -> None:
        """Release what is due: the delay line in order, acks whose fill never came."""
        while self._delay_line and self._delay_line[0][0] <= now_us:
            self._stage3(self._delay_line.popleft()[1])
        for order_id in [o for o, (deadline, _) in self._acks.items() if deadline <= now_us]:
            self.conn.send_text(self._acks.pop(order_id)[1])

    def release_held(self) -> None:
        """Send at once what the rules hold back: an unfinished burst, frames held for reordering, acks held
        for a fill (`FaultController.quiesce`)."""
        burst, self._burst, self._burst_size = self._burst, [], 0
        for text in burst:
            self._wire(text)
        reordered, self._reordered = self._reordered, []
        for _, text in reordered:
            self.conn.send_text(text)
        acks, self._acks = self._acks, {}
        now = self.controller.now_us()
        for _, text in acks.values():
            self._stage2(text, now)

    @property
    def holding(self) -> bool:
        return bool(self._delay_line or self._acks or self._burst or self._reordered)

    def _arm(self, at_us: int) -> None:
        if not self.controller.wall_clock:
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = max(0.0, (at_us - self.controller.now_us()) / 1e6)
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self.controller.now_us()
        self.poll(now)
        pending = [d for d, _ in self._acks.values()]
        if self._delay_line:
            pending.append(self._delay_line[0][0])
        if pending:
            self._arm(min(pending))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
