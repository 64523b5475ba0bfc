"""The HTML report's timeline plot: inline SVG, drawn here (no script, no external file).

One plot per connector instance, three bands on one time axis (seconds since the exchange started):
- prices: the truth's best bid and ask as wide pale lines, the connector's as thin dark ones on top (they
  coincide while the book is right), and a strip of marks where a sample differs from the truth;
- update ids: the exchange's last update id (pale) and the id the connector's book claims (dark);
- faults: one lane per fault kind, a tick per fault fired (its kind and where in a tooltip), with a faint line
  across the bands above.
Vertical lines mark when the connector was ready, when settling began, and when each failure was first seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from ..timeline import MATCH, FaultMark, Timeline, fault_kinds

WIDTH = 960
LEFT, RIGHT = 118, 16
PRICE_H, ID_H, LANE_H, AXIS_H, GAP, TOP = 150, 80, 14, 22, 10, 44
#: at most this many fault lanes (later kinds share an "other" lane)
MAX_LANES = 8
#: above this many faults, no line across the bands (the lanes still show every one)
MAX_FAULT_LINES = 300
STATUS_WORDS = {"diff": "differs from the truth", "future": "claims an id the exchange has not reached",
                "no_id": "claims no update id", "old": "claims an id older than the exchange's history"}


@dataclass(frozen=True)
class Marker:
    """A vertical line with a label: a failure first seen at `t` (or another moment)."""

    t: float
    label: str
    kind: str = "failure"


@dataclass(frozen=True)
class Scale:
    lo: float
    hi: float
    a: float
    b: float

    def __call__(self, value: float) -> float:
        if self.hi == self.lo:
            return (self.a + self.b) / 2
        return self.a + (min(max(value, self.lo), self.hi) - self.lo) / (self.hi - self.lo) * (self.b - self.a)


def _num(value: float) -> str:
    return f"{value:.1f}"


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def nice_ticks(lo: float, hi: float, count: int = 8) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def price_format(lo: float, hi: float) -> Callable[[float], str]:
    """Enough decimals to tell the band's labels apart (two more than the span's order), at most 8."""
    span = hi - lo
    decimals = 0 if span <= 0 else min(max(math.ceil(-math.log10(span)) + 1, 0), 8)
    return lambda value: f"{value:,.{decimals}f}"


def _domain(values: Sequence[float], pad: float = 0.08) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    span = max(hi - lo, abs(hi) * 1e-6, 1e-9)
    return lo - span * pad, hi + span * pad


def price_domain(tl: Timeline) -> tuple[float, float] | None:
    """The truth's range, widened to the connector's values unless they are far off (those are drawn at the
    edge, so one wild price does not flatten the rest)."""
    truth = [v for v in (*tl.truth_bid, *tl.truth_ask) if v is not None]
    shown = [v for v in (*tl.bid, *tl.ask) if v is not None]
    if not truth and not shown:
        return None
    if not truth:
        return _domain(shown)
    lo, hi = min(truth), max(truth)
    reach = 2 * max(hi - lo, abs(hi) * 1e-4)
    near = [v for v in shown if lo - reach <= v <= hi + reach]
    return _domain([*truth, *near])


def _polylines(xs: Sequence[float], ys: Sequence[float | None], css: str) -> list[str]:
    """One polyline per run of known values; a lone point is a dot."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) == 1:
            x, y = run[0].split(",")
            out.append(f'<circle class="{css}" cx="{x}" cy="{y}" r="1.8"/>')
        elif run:
            out.append(f'<polyline class="{css}" points="{" ".join(run)}"/>')
        run.clear()

    for x, y in zip(xs, ys, strict=True):
        if y is None:
            flush()
        else:
            run.append(f"{_num(x)},{_num(y)}")
    flush()
    return out


def _status_strip(tl: Timeline, xs: Sequence[float], y: float) -> list[str]:
    out = []
    for index, status in enumerate(tl.status):
        if status == MATCH:
            continue
        left = (xs[index - 1] + xs[index]) / 2 if index > 0 else xs[index] - 1
        right = (xs[index + 1] + xs[index]) / 2 if index + 1 < len(xs) else xs[index] + 1
        words = STATUS_WORDS.get(status, status)
        out.append(f'<rect class="st st-{_attr(status)}" x="{_num(left)}" y="{_num(y)}" '
                   f'width="{_num(max(right - left, 1.5))}" height="6"><title>t={tl.t[index]:.3f}s: the book '
                   f'{_attr(words)} (update id {tl.update_id[index]})</title></rect>')
    return out


def _lanes(faults: Sequence[FaultMark]) -> list[str]:
    kinds = fault_kinds(faults)
    if len(kinds) > MAX_LANES:
        kinds = [*kinds[: MAX_LANES - 1], "other"]
    return kinds


def timeline_svg(tl: Timeline, faults: Sequence[FaultMark], markers: Sequence[Marker] = (), *,
                 width: int = WIDTH, caption: str = "") -> str:
    """The plot of one timeline, as an `<svg>` element (no namespace needed inline in HTML5)."""
    lanes = _lanes(faults)
    price_top = TOP
    id_top = price_top + PRICE_H + GAP
    lane_top = id_top + ID_H + GAP
    axis_y = lane_top + max(len(lanes), 1) * LANE_H + 4
    height = axis_y + AXIS_H
    right = width - RIGHT
    end = max([*tl.t, tl.settle_t or 0.0, *(m.t for m in markers), 0.001])
    fault_end = max((f.t for f in faults), default=0.0)
    x = Scale(0.0, max(end, min(fault_end, end * 1.25)), LEFT, right)
    xs = [x(t) for t in tl.t]
    diffs = sum(1 for s in tl.status if s != MATCH)
    title = caption or f"{tl.venue}: best bid/ask and update id, connector against the truth"
    desc = (f"{tl.points} of {tl.samples} samples plotted; {diffs} differ from the truth or could not be compared; "
            f"{len(faults)} faults fired.")
    parts = [f'<svg class="timeline" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11"><title>{_attr(title)}</title><desc>{_attr(desc)}</desc>']
    parts += _frame("best bid / ask", price_top, PRICE_H, right)
    parts += _frame("update id", id_top, ID_H, right)
    parts += _axis(x, axis_y, price_top, right)
    if len(faults) <= MAX_FAULT_LINES:
        parts += [f'<line class="fault-line" x1="{_num(x(f.t))}" x2="{_num(x(f.t))}" y1="{price_top}" '
                  f'y2="{id_top + ID_H}"/>' for f in faults]
    domain = price_domain(tl)
    if domain is not None and tl.points:
        y = Scale(domain[0], domain[1], price_top + PRICE_H - 4, price_top + 10)
        parts += _y_labels(y, domain, price_format(*domain))
        for column, css in ((tl.truth_bid, "truth bid"), (tl.truth_ask, "truth ask"), (tl.bid, "conn bid"),
                            (tl.ask, "conn ask")):
            parts += _polylines(xs, [None if v is None else y(v) for v in column], css)
        parts += _status_strip(tl, xs, price_top + 2)
    else:
        parts.append(f'<text class="empty" x="{LEFT + 8}" y="{price_top + PRICE_H / 2}">no book samples</text>')
    ids = [float(v) for v in (*tl.update_id, *tl.truth_update_id) if v is not None]
    if ids:
        lo, hi = _domain(ids)
        y_id = Scale(lo, hi, id_top + ID_H - 4, id_top + 4)
        parts += _y_labels(y_id, (lo, hi), lambda v: f"{v:,.0f}")
        parts += _polylines(xs, [y_id(float(v)) for v in tl.truth_update_id], "truth uid")
        parts += _polylines(xs, [None if v is None else y_id(float(v)) for v in tl.update_id], "conn uid")
    parts += _fault_lanes(x, faults, lanes, lane_top)
    parts += _markers(x, tl, markers, price_top, axis_y)
    parts += _legend(right)
    parts.append("</svg>")
    return "".join(parts)


def _frame(label: str, top: float, height: float, right: float) -> list[str]:
    """A band's background, its name written upwards in the left margin."""
    middle = _num(top + height / 2)
    return [f'<rect class="band" x="{LEFT}" y="{top}" width="{_num(right - LEFT)}" height="{height}"/>',
            f'<text class="band-label" x="14" y="{middle}" text-anchor="middle" '
            f'transform="rotate(-90 14 {middle})">{_attr(label)}</text>']


def _axis(x: Scale, axis_y: float, top: float, right: float) -> list[str]:
    parts = [f'<line class="axis" x1="{LEFT}" x2="{_num(right)}" y1="{axis_y}" y2="{axis_y}"/>']
    for tick in nice_ticks(x.lo, x.hi):
        px = _num(x(tick))
        parts.append(f'<line class="grid" x1="{px}" x2="{px}" y1="{top}" y2="{axis_y}"/>')
        parts.append(f'<text class="tick" x="{px}" y="{axis_y + 14}" text-anchor="middle">{tick:g}s</text>')
    return parts


def _y_labels(y: Scale, domain: tuple[float, float], fmt: Callable[[float], str]) -> list[str]:
    lo, hi = domain
    parts = []
    for value in (hi, (lo + hi) / 2, lo):
        parts.append(f'<text class="tick" x="{LEFT - 4}" y="{_num(y(value) + 4)}" text-anchor="end">'
                     f'{_attr(fmt(value))}</text>')
    return parts


def _fault_lanes(x: Scale, faults: Sequence[FaultMark], lanes: list[str], top: float) -> list[str]:
    if not faults:
        return [f'<text class="lane-label" x="{LEFT - 4}" y="{top + LANE_H - 3}" text-anchor="end">faults</text>',
                f'<text class="empty" x="{LEFT + 4}" y="{top + LANE_H - 3}">no fault fired</text>']
    row = {kind: index for index, kind in enumerate(lanes)}
    parts = []
    for index, kind in enumerate(lanes):
        y = top + index * LANE_H
        short = kind if len(kind) <= 18 else kind[:17] + "…"
        parts.append(f'<rect class="lane" x="{LEFT}" y="{y}" width="{_num(x.b - LEFT)}" height="{LANE_H - 2}"/>')
        parts.append(f'<text class="lane-label" x="{LEFT - 4}" y="{y + LANE_H - 4}" text-anchor="end">'
                     f'<title>{_attr(kind)}</title>{_attr(short)}</text>')
    for fault in faults:
        lane = row.get(fault.kind, row.get("other", 0))
        y = top + lane * LANE_H
        px = _num(x(fault.t))
        where = f": {fault.where}" if fault.where else ""
        parts.append(f'<line class="fault lane-{lane}" data-kind="{_attr(fault.kind)}" x1="{px}" x2="{px}" '
                     f'y1="{y}" y2="{y + LANE_H - 2}"><title>{_attr(fault.kind)} at t={fault.t:.3f}s'
                     f'{_attr(where)}</title></line>')
    return parts


def _markers(x: Scale, tl: Timeline, markers: Sequence[Marker], top: float, bottom: float) -> list[str]:
    """Phases (ready, settle) labelled on the lower row above the bands; failures on the upper row, those
    first seen at (nearly) the same time under one label."""
    phases = [Marker(tl.run_t, "ready", "phase")]
    if tl.settle_t is not None:
        phases.append(Marker(tl.settle_t, "settle", "phase"))
    merged: list[Marker] = []
    for marker in sorted(markers, key=lambda m: m.t):
        if merged and x(marker.t) - x(merged[-1].t) < 4 and merged[-1].kind == marker.kind:
            if marker.label not in merged[-1].label.split(", "):
                merged[-1] = Marker(merged[-1].t, f"{merged[-1].label}, {marker.label}", marker.kind)
        else:
            merged.append(marker)
    parts = []
    for marker in [*phases, *merged]:
        px = _num(x(marker.t))
        label_y = top - 5 if marker.kind == "phase" else top - 17
        anchor = "end" if x(marker.t) > x.b - 160 else "start"
        parts.append(f'<line class="marker {_attr(marker.kind)}" x1="{px}" x2="{px}" y1="{label_y + 2}" '
                     f'y2="{bottom}"><title>{_attr(marker.label)} at t={marker.t:.3f}s</title></line>')
        parts.append(f'<text class="marker-label {_attr(marker.kind)}" x="{px}" y="{label_y}" '
                     f'text-anchor="{anchor}" dx="{-3 if anchor == "end" else 3}">{_attr(marker.label)}</text>')
    return parts


def _legend(right: float) -> list[str]:
    items = [("truth bid", "truth bid"), ("truth ask", "truth ask"), ("conn bid", "connector bid"),
             ("conn ask", "connector ask"), ("key st-diff", "≠ truth")]
    widths = [18 + 6.2 * len(label) + 16 for _, label in items]
    parts = []
    x = right - sum(widths)
    for (css, label), step in zip(items, widths, strict=True):
        if css.startswith("key"):
            parts.append(f'<rect class="{css}" x="{_num(x)}" y="4" width="14" height="6"/>')
        else:
            parts.append(f'<line class="{css}" x1="{_num(x)}" x2="{_num(x + 14)}" y1="7" y2="7"/>')
        parts.append(f'<text class="legend" x="{_num(x + 18)}" y="11">{_attr(label)}</text>')
        x += step
    return parts
