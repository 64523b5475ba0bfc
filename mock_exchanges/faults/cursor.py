"""A rule's state in one scope (one connection, or the REST requests of one route): what it has seen and
whether it fires on the next message."""

from __future__ import annotations

import random

from ..frames import Frame
from .schedule import FaultRule, rule_rng


class RuleCursor:
    __slots__ = ("_probability", "_untimed", "index", "rng", "rule", "seen", "taken", "triggered")

    def __init__(self, index: int, rule: FaultRule, seed: int, scope: int) -> None:
        self.index = index
        self.rule = rule
        self.rng: random.Random = rule_rng(seed, index, scope)
        #: selected messages so far
        self.seen = 0
        #: `at_update_id`: whether the trigger frame has passed, and how many of `count` have fired
        self.triggered = False
        self.taken = 0
        #: a rule with no message, update id or time trigger fires on every selected message (or by chance)
        self._untimed = (rule.at_message is None and rule.at_update_id is None and rule.start_s is None
                         and rule.end_s is None)
        self._probability = rule.probability

    def hits(self, frame: Frame, elapsed_s: float) -> bool:
        """Whether the rule selects `frame` (its channel, symbol and user event kind) and, if so, fires on it (`fires`):
        the fault filter's one question per rule and frame."""
        rule = self.rule
        if ((rule.symbol is not None and rule.symbol != frame.symbol)
                or (rule.user_kind is not None and rule.user_kind != frame.kind)
                or (rule.channel is not None and rule.channel != frame.channel)):
            return False
        return self.fires(elapsed_s, frame.first_update_id, frame.last_update_id)

    def fires(self, elapsed_s: float, first_update_id: int = 0, last_update_id: int = 0) -> bool:
        """Count one selected message and say whether the rule fires on it."""
        self.seen += 1
        if self._untimed:  # the common case, answered without looking at the rule's triggers
            return self._probability >= 1.0 or self.rng.random() < self._probability
        rule = self.rule
        if rule.at_message is not None:
            hit = rule.at_message <= self.seen < rule.at_message + rule.count
        elif rule.at_update_id is not None:
            if not self.triggered and last_update_id >= rule.at_update_id:
                self.triggered = True
            hit = self.triggered and self.taken < rule.count
            if hit:
                self.taken += 1
        else:  # a time window
            hit = ((rule.start_s is None or elapsed_s >= rule.start_s)
                   and (rule.end_s is None or elapsed_s < rule.end_s))
        if hit and rule.probability < 1.0:
            hit = self.rng.random() < rule.probability
        return hit
