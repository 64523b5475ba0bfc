"""A connector under test in one run: its adapter, the market it trades, the account it trades with, and the
record the sampler, the order driver and the settle phase write into."""

from __future__ import annotations

from dataclasses import dataclass

from .observations import VenueRecord
from .protocol import ConnectorAdapter
from .truth import MarketInfo


@dataclass
class Probe:
    adapter: ConnectorAdapter
    market: MarketInfo
    account_id: int
    record: VenueRecord
    #: exchange time (µs) when the run started: the exchange's orders before it are not this run's
    since_us: int

    @property
    def pair(self) -> str:
        return self.record.trading_pair

    @property
    def symbol(self) -> str:
        return self.record.symbol

    @property
    def trading(self) -> bool:
        return self.adapter.capabilities.trading
