"""WebSocket push throughput: the mock exchange's push path beside raw aiohttp pushing the same bytes.

What is timed (the engine is not: `engine.py` measures it on its own):
- mock: engine events recorded beforehand from the flow generator (order updates, trades, balance
  updates, book deltas: the whole event stream) are replayed into the exchange's hub, so each one goes
  through the Binance encoder, the hub's fan-out, each connection's fault filter (an empty schedule, or a
  light one: `LIGHT_FAULTS`) and its send queue and writer, onto the socket. Clients are subscribed to the
  raw `btcusdt@depth` stream, so what reaches them is one depthUpdate frame per book delta.
- raw: an aiohttp server with one handler per client, each pushing the very same depthUpdate payloads
  (encoded once, beforehand, by the mock's own encoder) with `WebSocketResponse.send_frame(bytes, TEXT)`,
  the fastest public way aiohttp has to send a pre-encoded text frame, yielding to the other handlers
  every `BATCH` frames (without that, one handler keeps the loop for as long as its socket takes data).

Clients run in a separate process (the second core) and count text frames at the socket with a minimal
WebSocket reader, cheap enough per frame that the server, not the client, is what is measured.
- frames/s: text frames received per second, summed over all clients, counted by the clients over a
  window that starts after a warm-up;
- events/s: frames/s / clients, i.e. how many engine events per second reach every client;
- server us/frame: server process CPU time per frame written (both sides count what they wrote), a figure
  that holds still when the machine is busy with other work.
Neither side negotiates permessage-deflate (the clients do not ask for it, as aiohttp's client does not).

    python bench/ws_push.py [--seconds 3] [--clients 1,10,100] [--sides raw,mock,mock+faults] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import platform
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from aiohttp import WSMsgType, web

from mock_exchanges.engine import BookDelta, Engine, EngineConfig, Event, WallClock, spot_market
from mock_exchanges.faults import FaultKind, FaultRule, Schedule
from mock_exchanges.flow import FlowConfig, FlowGenerator
from mock_exchanges.frames import Frame, text_frame
from mock_exchanges.server import MockExchange, MockExchangeConfig, MockExchangeServer
from mock_exchanges.server.connection import ClientConnection

STREAM = "btcusdt@depth"
TOPIC = "spot:" + STREAM
#: what "a light schedule" means here: rare drops, duplicates and reorders of depth frames, and a user-stream
#: rule that every depth frame is checked against without it ever selecting one
LIGHT_FAULTS = Schedule(seed=7, rules=(
    FaultRule(FaultKind.DROP, channel="depth", probability=0.001),
    FaultRule(FaultKind.DUPLICATE, channel="depth", probability=0.001),
    FaultRule(FaultKind.REORDER, channel="depth", probability=0.001, hold=2),
    FaultRule(FaultKind.DELAY, channel="user", delay_ms=50),
))
#: both servers push this many depth frames, then let the other tasks run (the mock's replay publishes the
#: engine events that make them; the raw handlers send them)
BATCH = 64
#: the replay waits while any connection has more than this many frames queued (max_pending is 10,000)
HIGH_WATER = 2_000
WARMUP_S = 0.5
#: a client's socket reports data once this much is waiting (after the handshake): one wake-up per ~140
#: frames, not one per frame, so that one client keeps up with a server that writes frame by frame
RCVLOWAT = 16 * 1024
SAMPLE = 200


# --- the clients' process ----------------------------------------------------------------------------------
class CountingClient(asyncio.Protocol):
    """A WebSocket client that only counts the text frames it receives (and answers pings); the first client
    also keeps the first `SAMPLE` payloads, to check what was sent."""

    def __init__(self, request: bytes, ready: asyncio.Future[None], keep: int) -> None:
        self.request = request
        self.ready = ready
        self.keep = keep
        self.samples: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.buffer = bytearray()
        self.frames = 0
        self.bytes = 0
        self.closed_by_server = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(bytes(buf[:end]).decode(errors="replace")))
                return
            del buf[:end + 4]
            self.upgraded = True
            self.ready.set_result(None)
            sock = self.transport.get_extra_info("socket") if self.transport is not None else None
            if sock is not None:  # be woken per RCVLOWAT bytes, not per frame: the server sets the pace
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, RCVLOWAT)
        pos, size, frames, nbytes = 0, len(buf), 0, 0
        while size - pos >= 2:
            first, length = buf[pos], buf[pos + 1]  # a server's frames are not masked: this is the length
            header = 2
            if length >= 126:
                header = 4 if length == 126 else 10
                if size - pos < header:
                    break
                length = int.from_bytes(buf[pos + 2:pos + header], "big")
            end = pos + header + length
            if end > size:
                break
            if first == 0x81:  # a final text frame
                frames += 1
                nbytes += length
                if self.keep:
                    self.keep -= 1
                    self.samples.append(bytes(buf[pos + header:end]))
            elif first & 0x0F == 8:
                self.closed_by_server = True
            elif first & 0x0F == 9 and self.transport is not None:  # ping: a pong, masked (zero mask)
                self.transport.write(bytes([0x8A, 0x80 | length]) + b"\0\0\0\0" + bytes(buf[pos + header:end]))
            pos = end
        del buf[:pos]
        self.frames += frames
        self.bytes += nbytes


def client_process(host: str, port: int, path: str, clients: int, seconds: float,
                   result: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        loop = asyncio.get_running_loop()
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        sockets: list[CountingClient] = []
        for i in range(clients):
            ready: asyncio.Future[None] = loop.create_future()
            _, client = await loop.create_connection(lambda r=ready, i=i: CountingClient(  # type: ignore[misc]
                request, r, SAMPLE if i == 0 else 0), host, port)
            await ready
            sockets.append(client)

        def totals() -> tuple[int, int, float, float]:
            return (sum(c.frames for c in sockets), sum(c.bytes for c in sockets), time.perf_counter(),
                    time.process_time())

        result.put("connected")
        while not any(c.frames for c in sockets):
            await asyncio.sleep(0.001)
        await asyncio.sleep(WARMUP_S)
        before = totals()
        result.put("window")
        await asyncio.sleep(seconds)
        after = totals()
        result.put("window")
        frames, nbytes, elapsed, cpu = (a - b for a, b in zip(after, before, strict=True))
        result.put((int(frames), int(nbytes), elapsed, cpu / elapsed, sum(c.closed_by_server for c in sockets),
                    min(c.frames for c in sockets), sockets[0].samples))
        for client in sockets:
            if client.transport is not None:
                client.transport.abort()

    asyncio.run(main())


@dataclass
class Figure:
    frames_per_s: float
    events_per_s: float
    server_us_per_frame: float
    #: the clients' process: CPU seconds per second (near 1.0: the clients, not the server, set the pace)
    client_load: float
    mean_frame_bytes: float
    closed_by_server: int
    samples: list[bytes]


async def measure(port: int, path: str, clients: int, seconds: float, go: asyncio.Event,
                  written: Callable[[], int]) -> Figure:
    """Start the clients, let the server push (`go`) while they count, and gather both sides' figures."""
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    proc = multiprocessing.Process(target=client_process, args=("127.0.0.1", port, path, clients, seconds, queue))
    proc.start()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, queue.get) == "connected"
    written()
    go.set()
    # the server's CPU time and frames written over the clients' counting window
    assert await loop.run_in_executor(None, queue.get) == "window"
    cpu0, written0 = time.process_time(), written()
    assert await loop.run_in_executor(None, queue.get) == "window"
    cpu, count = time.process_time() - cpu0, written() - written0
    frames, nbytes, elapsed, client_load, closed, fewest, samples = await loop.run_in_executor(None, queue.get)
    go.clear()
    await loop.run_in_executor(None, proc.join)
    if fewest == 0:
        raise RuntimeError("a client received nothing")
    return Figure(frames / elapsed, frames / elapsed / clients, cpu / max(count, 1) * 1e6, client_load,
                  nbytes / max(frames, 1), closed, samples)


# --- what is pushed ----------------------------------------------------------------------------------------
def record_events(seed: int, commands: int) -> list[Event]:
    """The engine's events over `commands` flow commands on a BTCUSDT book ~2,000 levels deep."""
    engine = Engine(WallClock(), EngineConfig(seed=seed))
    engine.add_market(spot_market("BTCUSDT", "BTC", "USDT"))
    flow = FlowGenerator(engine, "BTCUSDT", FlowConfig(seed=seed, levels_per_side=1000, mid_price=Decimal("30000")))
    flow.prefill()
    events: list[Event] = []
    engine.subscribe(events.append)
    flow.run_steps(commands)
    return events


class Capture:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def deliver(self, topic: str, frame: Frame) -> None:
        self.payloads.append(frame.data.encode())


def encode_depth(events: list[Event]) -> list[bytes]:
    """The payloads the mock sends on the raw `btcusdt@depth` stream for `events`, from its own encoder."""
    exchange = MockExchange(MockExchangeConfig(flow=None))
    MockExchangeServer(exchange)  # installs the Binance dialect's encoder on the hub
    capture = Capture()
    exchange.hub.subscribe(TOPIC, capture)
    for event in events:
        exchange.hub.publish(event)
    return capture.payloads


# --- the servers -------------------------------------------------------------------------------------------
async def replay(exchange: MockExchange, batches: list[list[Event]], conns: list[ClientConnection],
                 go: asyncio.Event, stop: asyncio.Event) -> None:
    """Once `go` is set, publish `batches` into the exchange's hub in a loop until `stop`: after each batch let the
    writers run, and wait while any of `conns` has more than HIGH_WATER frames queued."""
    publish = exchange.hub.publish
    await go.wait()
    while not stop.is_set():
        for batch in batches:
            for event in batch:
                publish(event)
            await asyncio.sleep(0)
            while max(conn.pending for conn in conns) > HIGH_WATER:
                await asyncio.sleep(0.0002)
            if stop.is_set():
                return


async def bench_mock(events: list[Event], clients: int, seconds: float, faults: Schedule | None) -> Figure:
    exchange = MockExchange(MockExchangeConfig(seed=7, flow=None, faults=faults))
    async with MockExchangeServer(exchange) as server:
        go, stop = asyncio.Event(), asyncio.Event()

        conns: list[ClientConnection] = []

        def written() -> int:  # first called once every client is connected
            conns[:] = conns or exchange.connections.values()
            return sum(conn.sent for conn in conns)

        # slices of the event stream that each make BATCH depth frames
        cuts = [0] + [i + 1 for i, n in enumerate(itertools.accumulate(isinstance(e, BookDelta) for e in events))
                      if n % BATCH == 0 and isinstance(events[i], BookDelta)]
        batches = [events[a:b] for a, b in itertools.pairwise(cuts)]
        task = asyncio.create_task(replay(exchange, batches, conns, go, stop))
        figure = await measure(server.port, "/ws/" + STREAM, clients, seconds, go, written)
        stop.set()
        go.set()
        await task
        return figure


async def bench_raw(payloads: list[bytes], clients: int, seconds: float, batched: bool) -> Figure:
    """Each handler pushes `payloads` in a loop: frame by frame with aiohttp's `send_frame`, or (`batched`, a
    ceiling for reference) BATCH frames at a time, framed beforehand, in one `transport.write`."""
    go, stop = asyncio.Event(), asyncio.Event()
    written = [0]
    chunks = [b"".join(text_frame(p.decode()) for p in payloads[i:i + BATCH]) for i in range(0, len(payloads), BATCH)]

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await go.wait()
        send, transport = ws.send_frame, request.transport
        assert transport is not None
        try:
            while not stop.is_set():
                for start, chunk in zip(range(0, len(payloads), BATCH), chunks, strict=True):
                    if batched:
                        if transport.is_closing():
                            return ws
                        transport.write(chunk)
                        while transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]:
                            await asyncio.sleep(0.0002)
                    else:
                        for payload in payloads[start:start + BATCH]:
                            await send(payload, WSMsgType.TEXT)
                    written[0] += len(payloads[start:start + BATCH])
                    await asyncio.sleep(0)  # let the other clients' handlers have their turn
        except ConnectionError:
            pass  # the client finished counting and left
        return ws

    app = web.Application()
    app.router.add_get("/raw", handler)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    figure = await measure(port, "/raw", clients, seconds, go, lambda: written[0])
    stop.set()
    go.set()
    await runner.cleanup()
    return figure


# --- the report --------------------------------------------------------------------------------------------
SIDES = ("raw", "raw-batched", "mock", "mock+faults")


def row(name: str, figure: Figure, raw: Figure | None) -> str:
    text = (f"  {name:12s} {figure.events_per_s:9,.0f} events/s {figure.frames_per_s:9,.0f} frames/s | "
            f"server {figure.server_us_per_frame:5.2f} us/frame = {1e6 / figure.server_us_per_frame:9,.0f} frames/s "
            f"of CPU | clients' CPU {figure.client_load:4.0%}")
    if raw is not None and figure is not raw:
        text += (f" | vs raw: frames/s {figure.frames_per_s / raw.frames_per_s:5.0%}, "
                 f"per CPU {raw.server_us_per_frame / figure.server_us_per_frame:5.0%}")
    if figure.closed_by_server:
        text += f"  ({figure.closed_by_server} client(s) cut off!)"
    return text


def summary(side: str, rounds: list[dict[str, Figure]]) -> str:
    """Medians over the rounds: the side's figures, and its ratios to raw taken round by round (each round runs
    every side back to back, so a ratio compares figures taken under the same load)."""
    figures = [r[side] for r in rounds]
    text = (f"  {side:12s} median of {len(figures)}: {statistics.median(f.events_per_s for f in figures):9,.0f} "
            f"events/s, server {statistics.median(f.server_us_per_frame for f in figures):5.2f} us/frame")
    if side != "raw" and all("raw" in r for r in rounds):
        events = sorted(r[side].frames_per_s / r["raw"].frames_per_s for r in rounds)
        cpu = sorted(r["raw"].server_us_per_frame / r[side].server_us_per_frame for r in rounds)
        text += (f" | vs raw: events/s {statistics.median(events):4.0%} ({events[0]:.0%}-{events[-1]:.0%}), "
                 f"per CPU {statistics.median(cpu):4.0%} ({cpu[0]:.0%}-{cpu[-1]:.0%})")
    return text


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="counting window per figure")
    parser.add_argument("--clients", default="1,10,100")
    parser.add_argument("--sides", default=",".join(SIDES), help=f"any of {', '.join(SIDES)}")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every side this many times, interleaved, and print medians")
    parser.add_argument("--commands", type=int, default=20_000, help="flow commands recorded (replayed in a loop)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sides = [side for side in SIDES if side in args.sides.split(",")]
    started = time.perf_counter()
    events = record_events(args.seed, args.commands)
    payloads = encode_depth(events)
    mean = sum(map(len, payloads)) / len(payloads)
    print(f"ws push bench: python {platform.python_version()} on {platform.machine()}, seed {args.seed}: "
          f"{len(events):,} engine events ({len(payloads):,} depth frames of {mean:.0f} B on average) replayed in a "
          f"loop, {args.seconds:g} s per figure, {args.rounds} round(s)")
    for clients in (int(c) for c in args.clients.split(",")):
        print(f"{clients} client(s):")
        rounds: list[dict[str, Figure]] = []
        for _ in range(args.rounds):
            figures: dict[str, Figure] = {}
            for side in sides:
                if side.startswith("raw"):
                    figure = await bench_raw(payloads, clients, args.seconds, batched=side == "raw-batched")
                else:
                    figure = await bench_mock(events, clients, args.seconds,
                                              LIGHT_FAULTS if "faults" in side else None)
                figures[side] = figure
                print(row(side, figure, figures.get("raw")))
                if side != "mock+faults" and figure.samples != payloads[:SAMPLE]:
                    print(f"  !! {side}: the first frames received differ from the recorded payloads")
            rounds.append(figures)
        if args.rounds > 1:
            for side in sides:
                print(summary(side, rounds))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    asyncio.run(main())
