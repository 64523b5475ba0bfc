// The mock exchange's dashboard: renders the snapshots pushed on /_mock/live and calls the control API.
// Plain DOM, no framework, nothing fetched from anywhere but this server. Server data is only ever set as
// textContent (topics and paths come from clients), never parsed as HTML.
"use strict";

(() => {
  const TOKEN = new URLSearchParams(location.search).get("token");
  const FAULT_ROWS = 300;
  const $ = (id) => document.getElementById(id);
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const state = { depth: 10, markets: new Map(), connections: new Map(), lastFault: 0 };

  // --- formatting ---------------------------------------------------------------------------------
  const clock = (ms) => new Date(ms).toISOString().slice(11, 23);
  const countdown = (ms) => {
    if (ms <= 0) return "due";
    const s = Math.floor(ms / 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  };
  const percent = (rate) => `${(Number(rate) * 100).toFixed(4)}%`;
  const decimals = (text) => (text.split(".")[1] || "").length;
  const difference = (a, b) => (Number(a) - Number(b)).toFixed(Math.max(decimals(a), decimals(b)));

  // --- control API ------------------------------------------------------------------------------
  async function control(path, body) {
    const result = $("control-result");
    const headers = { "Content-Type": "application/json" };
    if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
    try {
      const response = await fetch(`/_mock${path}`, { method: "POST", headers, body: JSON.stringify(body || {}) });
      const answer = await response.json();
      result.className = response.ok ? "" : "error";
      result.textContent = `${path}: ${response.ok ? JSON.stringify(answer) : answer.error}`;
    } catch (error) {
      result.className = "error";
      result.textContent = `${path}: ${error}`;
    }
  }

  function wireControls() {
    $("pause-flow").addEventListener("click", () => control("/flow/pause"));
    $("resume-flow").addEventListener("click", () => control("/flow/resume"));
    $("move-price-button").addEventListener("click", () =>
      control("/move_price", { symbol: $("move-symbol").value, price: $("move-price").value.trim() }));
    $("trigger-funding").addEventListener("click", () =>
      control("/funding/trigger", { symbol: $("funding-symbol").value }));
    $("start-scenario").addEventListener("click", () => {
      const seed = $("scenario-seed").value.trim();
      control("/scenario", { name: $("scenario-name").value, ...(seed === "" ? {} : { seed: Number(seed) }) });
    });
    $("connections").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-id]");
      if (button) control(`/connections/${button.dataset.id}/disconnect`);
    });
  }

  function fillSelect(select, items) {
    select.replaceChildren(...items.map(([value, label]) => {
      const option = el("option", "", label);
      option.value = value;
      return option;
    }));
  }

  // --- markets ------------------------------------------------------------------------------------
  function marketCard(info) {
    const card = el("article", "market panel");
    card.dataset.symbol = info.symbol;
    const title = el("h2", "", info.symbol + " ");
    title.append(el("small", "", info.kind));
    const facts = el("div", "facts");
    const refs = { card };
    for (const [key, label] of [["bid", "best bid"], ["ask", "best ask"], ["mid", "flow mid"], ["uid", "update id"]]) {
      refs[key] = el("b", `${key}-value`, "–");
      facts.append(`${label} `, refs[key], "  ");
    }
    refs.bid.classList.add("best-bid");
    refs.ask.classList.add("best-ask");
    refs.mid.classList.add("flow-mid");
    card.append(title, facts);
    if (info.kind === "perpetual") {
      const funding = el("div", "funding");
      for (const [key, label] of [["mark", "mark"], ["index", "index"], ["rate", "funding rate"],
                                  ["next", "next funding in"], ["settled", "settlements"], ["last", "last"]]) {
        refs[key] = el("b", `${key}-value`, "–");
        funding.append(`${label} `, refs[key], "  ");
      }
      card.append(funding);
    }
    const ladder = el("table", "ladder");
    const head = el("tr");
    head.append(el("th", "", "price"), el("th", "", "qty"), el("th", "", ""));
    ladder.append(head);
    refs.asks = [];
    refs.bids = [];
    const row = (side) => {
      const tr = el("tr", side);
      const bar = el("td", "bar");
      const span = el("span");
      bar.append(span);
      tr.append(el("td", "price"), el("td", "qty"), bar);
      ladder.append(tr);
      return { tr, price: tr.children[0], qty: tr.children[1], bar: span };
    };
    for (let i = 0; i < state.depth; i++) refs.asks.push(row("ask"));
    const spread = el("tr", "spread");
    refs.spread = el("td", "", "");
    refs.spread.colSpan = 3;
    spread.append(refs.spread);
    ladder.append(spread);
    for (let i = 0; i < state.depth; i++) refs.bids.push(row("bid"));
    const trades = el("table", "trades");
    const trHead = el("tr");
    trHead.append(el("th", "", "time"), el("th", "", "price"), el("th", "", "qty"), el("th", "", "taker"));
    trades.append(trHead);
    refs.trades = trades;
    const cols = el("div", "cols");
    cols.append(ladder, trades);
    card.append(cols);
    $("markets").append(card);
    return refs;
  }

  function renderLadder(refs, bids, asks) {
    const max = Math.max(1e-12, ...bids.map((l) => Number(l[1])), ...asks.map((l) => Number(l[1])));
    const fill = (rows, levels) => rows.forEach((row, i) => {
      const level = levels[i];
      row.price.textContent = level ? level[0] : "";
      row.qty.textContent = level ? level[1] : "";
      row.bar.style.width = level ? `${(100 * Number(level[1])) / max}%` : "0";
    });
    fill(refs.bids, bids);
    fill([...refs.asks].reverse(), asks); // best ask sits right above the spread line
    refs.bid.textContent = bids.length ? bids[0][0] : "–";
    refs.ask.textContent = asks.length ? asks[0][0] : "–";
    refs.spread.textContent = bids.length && asks.length ? `spread ${difference(asks[0][0], bids[0][0])}` : "one-sided book";
  }

  function renderTrades(refs, trades) {
    const table = refs.trades;
    while (table.rows.length - 1 < trades.length) {
      const tr = el("tr");
      tr.append(el("td"), el("td"), el("td"), el("td"));
      table.append(tr);
    }
    for (let i = 1; i < table.rows.length; i++) {
      const cells = table.rows[i].cells;
      const trade = trades[i - 1];
      cells[0].textContent = trade ? clock(trade[4]) : "";
      cells[1].textContent = trade ? trade[1] : "";
      cells[2].textContent = trade ? trade[2] : "";
      cells[3].textContent = trade ? trade[3].toLowerCase() : "";
      cells[3].className = trade ? trade[3] : "";
    }
  }

  function renderMarket(market, nowMs) {
    const refs = state.markets.get(market.symbol);
    if (!refs) return;
    renderLadder(refs, market.bids, market.asks);
    refs.mid.textContent = market.flow_mid ?? "no flow";
    refs.uid.textContent = market.update_id;
    renderTrades(refs, market.trades);
    const funding = market.funding;
    if (funding && refs.mark) {
      refs.mark.textContent = funding.mark_price;
      refs.index.textContent = funding.index_price;
      refs.rate.textContent = percent(funding.funding_rate);
      refs.next.textContent = countdown(funding.next_funding_time_ms - nowMs);
      refs.settled.textContent = funding.settlements;
      refs.last.textContent = funding.last
        ? `${clock(funding.last.time_ms)} at ${percent(funding.last.rate)}, mark ${funding.last.mark_price}` : "none";
    }
  }

  // --- connections and faults ----------------------------------------------------------------------
  function renderConnections(connections, total) {
    const body = $("connections");
    const seen = new Set();
    for (const conn of connections) {
      seen.add(conn.id);
      let row = state.connections.get(conn.id);
      if (!row) {
        row = el("tr");
        row.dataset.id = conn.id;
        for (const cls of ["id", "ordinal", "path", "topics", "sent", "faulted"]) row.append(el("td", cls));
        const cell = el("td");
        const button = el("button", "disconnect", "Disconnect");
        button.type = "button";
        button.dataset.id = conn.id;
        cell.append(button);
        row.append(cell);
        body.append(row);
        state.connections.set(conn.id, row);
      }
      const cells = row.cells;
      cells[0].textContent = conn.id;
      cells[1].textContent = conn.ordinal;
      cells[2].textContent = conn.path;
      const more = conn.subscription_count - conn.subscriptions.length;
      cells[3].textContent = conn.subscriptions.join(" ") + (more > 0 ? ` (+${more})` : "");
      cells[4].textContent = conn.sent;
      cells[5].textContent = conn.faulted ? "rules" : "–";
    }
    for (const [id, row] of state.connections) {
      if (!seen.has(id)) {
        row.remove();
        state.connections.delete(id);
      }
    }
    $("connection-count").textContent = `(${total})`;
  }

  function where(record) {
    const skip = new Set(["n", "t", "kind", "rule", "conn", "ch", "i"]);
    const parts = [];
    if (record.ch !== undefined) parts.push(`${record.ch} message #${record.i}`);
    for (const [key, value] of Object.entries(record)) {
      if (!skip.has(key)) parts.push(`${key}=${value}`);
    }
    return parts.join(" ");
  }

  function addFaults(records) {
    const body = $("fault-log");
    for (const old of body.querySelectorAll("tr.fresh")) old.classList.remove("fresh");
    for (const record of records) {
      if (record.n <= state.lastFault) continue;
      state.lastFault = record.n;
      const tr = el("tr", "fresh");
      tr.append(el("td", "", record.n), el("td", "", `+${(record.t / 1e6).toFixed(3)}s`),
        el("td", "kind", record.kind), el("td", "", record.rule ?? "–"),
        el("td", "", record.conn !== undefined ? `#${record.conn}` : "–"), el("td", "", where(record)));
      body.prepend(tr);
    }
    while (body.rows.length > FAULT_ROWS) body.lastElementChild.remove();
  }

  // --- the live socket ------------------------------------------------------------------------------
  function onHello(hello) {
    state.depth = hello.ladder_depth;
    $("markets").replaceChildren();
    state.markets.clear();
    for (const market of hello.markets) state.markets.set(market.symbol, marketCard(market));
    fillSelect($("move-symbol"), hello.markets.map((m) => [m.symbol, m.symbol]));
    fillSelect($("funding-symbol"), hello.markets.filter((m) => m.kind === "perpetual").map((m) => [m.symbol, m.symbol]));
    fillSelect($("scenario-name"), hello.scenarios.map((s) => [s.name, s.name]));
    for (const option of $("scenario-name").options) {
      option.title = hello.scenarios.find((s) => s.name === option.value).description;
    }
    if ($("scenario-seed").value === "") $("scenario-seed").value = hello.seed;
    $("seed").textContent = hello.seed;
    $("accounts").textContent = hello.accounts.map((a) => `${a.id} ${a.name}`).join(", ") || "none";
    addFaults(hello.faults);
    $("fault-total").textContent = hello.faults_total;
  }

  function onSnapshot(snap) {
    const flow = $("flow-state");
    flow.textContent = snap.flow_paused ? "flow paused" : "flow running";
    flow.className = `badge ${snap.flow_paused ? "paused" : "on"}`;
    $("scenario").textContent = snap.scenario || "none";
    $("server-time").textContent = clock(snap.time_ms);
    $("fault-total").textContent = snap.faults_total;
    for (const market of snap.markets) renderMarket(market, snap.time_ms);
    renderConnections(snap.connections, snap.connection_count);
    addFaults(snap.faults);
  }

  function connect(attempt) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = TOKEN ? `?token=${encodeURIComponent(TOKEN)}` : "";
    const socket = new WebSocket(`${scheme}//${location.host}/_mock/live${query}`);
    const badge = $("live");
    socket.addEventListener("open", () => {
      attempt = 0;
      badge.textContent = "live";
      badge.className = "badge on";
    });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "hello") onHello(message);
      else if (message.type === "snapshot") onSnapshot(message);
    });
    socket.addEventListener("close", () => {
      const wait = Math.min(5000, 500 * 2 ** attempt);
      badge.textContent = `disconnected, retrying in ${(wait / 1000).toFixed(1)}s`;
      badge.className = "badge off";
      setTimeout(() => connect(attempt + 1), wait);
    });
  }

  wireControls();
  connect(0);
})();
