"""The record of a run: the seed, the schedule, and what each connection was sent and when.

JSON Lines. The first line is the header (`"ev": "header"`: seed, scenario, schedule); then, in the order
they happened:
- `open` / `close` of a WebSocket connection (`conn` is its ordinal in this run, `path` its URL path);
- `send`: the text a connection was given to write (after the fault layer), in wire order;
- `fault`: a rule firing (`rule` index, `kind`, and where: `conn` + `ch`/`i`, the channel and its message
  index before faults, or the REST request it hit);
- `rest`: a REST answer (`n` is the ordinal of the request on that method + route, `status`, `body`), faulted
  answers included; `status` 0 when the fault dropped the connection instead of answering.
Times `t` are microseconds since the exchange started, on the engine's clock, so under a virtual clock two
runs with the same seed give byte-identical transcripts. `mock_exchanges.faults.replay` serves one back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


class Transcript:
    def __init__(self, path: str | Path | None = None, keep: bool = True) -> None:
        self.path = Path(path) if path is not None else None
        self.keep = keep or self.path is None
        self.lines: list[str] = []
        self._fh: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, record: dict[str, Any]) -> None:
        line = _dumps(record)
        if self.keep:
            self.lines.append(line)
        if self._fh is not None:
            self._fh.write(line + "\n")

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_transcript(path: str | Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
