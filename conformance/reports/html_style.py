"""The HTML report's stylesheet (inlined in the page: no external file, no web font)."""

CSS = """
:root { --pass: #1a7f37; --fail: #c62828; --warn: #9a6700; --error: #8e24aa; --skip: #6e7781; --ink: #1f2328;
        --muted: #59636e; --line: #d0d7de; --bg-pass: #dafbe1; --bg-fail: #ffebe9; --bg-warn: #fff8c5;
        --bg-error: #fbefff; --bg-skip: #f6f8fa; --bid: #1f6fb4; --ask: #d95f02; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1280px; padding: 16px 24px 48px; color: var(--ink);
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 22px; margin: 4px 0 10px; } h2 { font-size: 18px; margin: 28px 0 8px;
     border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
h4 { font-size: 14px; margin: 0 0 4px; }
code, pre { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; }
code.cmd { background: #f6f8fa; border: 1px solid var(--line); border-radius: 4px; padding: 1px 5px;
           user-select: all; }
.sub { color: var(--muted); font-weight: normal; font-size: 12px; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600;
         border: 1px solid currentColor; white-space: nowrap; }
.badge.big { font-size: 15px; padding: 1px 10px; vertical-align: 2px; }
.pass { color: var(--pass); } .fail { color: var(--fail); } .warn { color: var(--warn); }
.error { color: var(--error); } .skip, .na, .none { color: var(--skip); }
table.facts { border-collapse: collapse; margin: 4px 0 8px; }
table.facts th { text-align: left; color: var(--muted); font-weight: 500; padding: 2px 14px 2px 0;
                 vertical-align: top; white-space: nowrap; }
table.facts td { padding: 2px 0; }
table.grid { border-collapse: collapse; font-size: 13px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
table.grid th, table.grid td { border: 1px solid var(--line); padding: 3px 8px; }
table.grid thead th { background: #f6f8fa; vertical-align: bottom; text-align: center; font-weight: 600; }
table.grid th[scope=row] { text-align: left; font-weight: 500; font-family: ui-monospace, Menlo, monospace;
                            font-size: 12.5px; white-space: nowrap; }
table.grid tr.level th { background: #eef1f4; text-align: left; text-transform: uppercase; font-size: 12px;
                         letter-spacing: .04em; }
td.sev { color: var(--muted); font-size: 12px; }
.cell { text-align: center; font-weight: 600; white-space: nowrap; }
.cell a { color: inherit; }
td.cell.pass, span.cell.pass { background: var(--bg-pass); }
td.cell.fail, span.cell.fail { background: var(--bg-fail); }
td.cell.warn, span.cell.warn { background: var(--bg-warn); }
td.cell.error, span.cell.error { background: var(--bg-error); }
td.cell.skip, td.cell.na, td.cell.none, span.cell.skip, span.cell.na, span.cell.none {
  background: var(--bg-skip); font-weight: normal; }
p.legend span.cell { display: inline-block; padding: 0 8px; border-radius: 3px; margin-right: 4px; }
p.legend, p.note { color: var(--muted); font-size: 12.5px; }
section.venue-failures { border: 1px solid var(--line); border-left: 4px solid var(--fail); border-radius: 6px;
                         padding: 6px 14px 10px; margin: 10px 0 16px; }
article.failure { border-top: 1px dashed var(--line); padding: 8px 0 4px; }
article.failure:first-of-type { border-top: 0; }
p.rule { margin: 2px 0 4px; }
pre.msg { background: #fff5f5; border-radius: 4px; padding: 4px 6px; }
pre.doc { color: var(--muted); }
details { margin: 4px 0; } summary { cursor: pointer; color: var(--muted); }
figure { margin: 10px 0 14px; } figcaption { color: var(--muted); font-size: 12.5px; }
section.scenario { border-top: 1px solid var(--line); margin-top: 14px; }
table.faults { border-collapse: collapse; font-size: 12px; }
table.faults td, table.faults th { padding: 1px 10px 1px 0; text-align: left; }
svg.timeline { display: block; max-width: 100%; height: auto; background: #fff; }
svg.timeline .band { fill: #fafbfc; stroke: var(--line); }
svg.timeline .band-label, svg.timeline .tick, svg.timeline .lane-label, svg.timeline .legend,
svg.timeline .empty { fill: var(--muted); }
svg.timeline .axis { stroke: #8c959f; } svg.timeline .grid { stroke: #eaeef2; }
svg.timeline polyline { fill: none; stroke-linejoin: round; stroke-linecap: round; }
svg.timeline .truth { stroke-width: 7; opacity: .3; }
svg.timeline line.truth { stroke-width: 7; }
svg.timeline .conn { stroke-width: 1.6; }
svg.timeline .bid { stroke: var(--bid); fill: var(--bid); } svg.timeline .ask { stroke: var(--ask); fill: var(--ask); }
svg.timeline polyline.bid, svg.timeline polyline.ask, svg.timeline polyline.uid { fill: none; }
svg.timeline .uid.truth { stroke: #57606a; } svg.timeline .uid.conn { stroke: #1f2328; }
svg.timeline circle.uid { fill: #1f2328; }
svg.timeline .st-diff { fill: var(--fail); } svg.timeline .st-future { fill: #8250df; }
svg.timeline .st-no_id, svg.timeline .st-old { fill: #afb8c1; }
svg.timeline .lane { fill: #f6f8fa; }
svg.timeline line.fault { stroke: #bc4c00; stroke-width: 1.5; }
svg.timeline .fault-line { stroke: #bc4c00; stroke-width: 1; opacity: .18; }
svg.timeline .marker { stroke-width: 1.2; }
svg.timeline .marker.phase { stroke: #8c959f; stroke-dasharray: 4 3; }
svg.timeline .marker.failure { stroke: var(--fail); stroke-dasharray: 2 2; }
svg.timeline .marker-label.phase { fill: var(--muted); }
svg.timeline .marker-label.failure { fill: var(--fail); font-weight: 600; }
@media print { details { display: block; } }
"""
