// The live view of a vexjournal server: plain JavaScript, no build step, nothing
// loaded from elsewhere. Every string from an event goes in as text (textContent,
// attributes), never as markup.
'use strict';

(() => {
  /** Rows the table keeps; older ones are dropped as new ones arrive. */
  const ROW_LIMIT = 500;
  /** The chart's query: events per minute by category over the last 15 minutes. */
  const RATE_QUERY = 'by=category&step=1m&since=-15m';
  const RATE_REFRESH_MS = 3000;
  const HEALTH_REFRESH_MS = 5000;
  /** The reconnection delay until the server advertises one (`retry:`). */
  const DEFAULT_RETRY_MS = 1000;
  /** Events a transaction list shows. */
  const TX_LIMIT = 200;
  const TOKEN_KEY = 'vexjournal-token';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const PALETTE = ['#0369a1', '#f59e0b', '#10b981', '#8b5cf6', '#ef4444', '#14b8a6',
    '#ec4899', '#84cc16', '#6366f1', '#f97316', '#64748b', '#a16207'];

  const $ = (id) => document.getElementById(id);

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    needToken: false,
    stream: null, // AbortController of the live stream
    filters: {},
    pending: [], // events received, not yet in the table
    flushTimer: 0,
    received: 0,
    nextSeq: 0,
    events: new Map(), // seq -> event, for the rows in the table
    selected: null, // seq of the event shown in the detail pane
    selection: 0, // bumped per selection, so late answers for an old one are dropped
    colors: new Map(), // category -> colour, stable for the page's life
    types: new Set(),
    categories: new Set(),
  };

  /** Thrown after a 401: the token form is shown, the caller just stops. */
  class TokenNeeded extends Error {}

  // ---- HTTP -------------------------------------------------------------------

  function headers(accept, extra) {
    const h = Object.assign({ Accept: accept }, extra || {});
    if (state.token) h.Authorization = 'Bearer ' + state.token;
    return h;
  }

  async function api(path, accept, signal) {
    const r = await fetch(path, {
      headers: headers(accept || 'application/json'),
      signal,
      cache: 'no-store',
    });
    if (r.status === 401) {
      askForToken();
      throw new TokenNeeded('a token is needed');
    }
    return r;
  }

  /** The message of an error answer (`{"error": …}`), or its status line. */
  async function errorText(r) {
    try {
      const body = await r.json();
      if (body && typeof body.error === 'string') return body.error;
    } catch (_) { /* not JSON */ }
    return `${r.status} ${r.statusText}`.trim();
  }

  function ndjson(text) {
    const out = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try { out.push(JSON.parse(line)); } catch (_) { /* a torn line: skipped */ }
    }
    return out;
  }

  const sleep = (ms, signal) => new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

  // ---- Server-Sent Events over fetch (EventSource cannot send Authorization) -----

  /**
   * Follows `url` as an event stream until `signal` aborts: parses `id:`, `data:`,
   * `event:`, `retry:` and comments, and after a dropped connection reconnects with
   * `Last-Event-ID`, so the server resumes right after the last event received.
   * `on.message(data, id)`, `on.error(data)` (an `event: error` from the server),
   * `on.state(name, detail)`.
   */
  async function followStream(url, signal, on) {
    let lastId = null;
    let retry = DEFAULT_RETRY_MS;
    while (!signal.aborted) {
      try {
        const extra = lastId === null ? {} : { 'Last-Event-ID': lastId };
        const r = await fetch(url, { headers: headers('text/event-stream', extra), signal, cache: 'no-store' });
        if (r.status === 401) { askForToken(); return; }
        if (r.status >= 400 && r.status < 500) {
          // A refused filter: retrying cannot help.
          on.state('error', await errorText(r));
          return;
        }
        if (!r.ok || !r.body) throw new Error(`${r.status} ${r.statusText}`);
        on.state('live');
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let buf = '';
        let data = [];
        let type = '';
        let id = null;
        const line = (text) => {
          if (text === '') {
            if (id !== null) { lastId = id; id = null; }
            if (data.length > 0) {
              const payload = data.join('\n');
              if (type === 'error') on.error(payload); else on.message(payload, lastId);
            }
            data = [];
            type = '';
            return;
          }
          if (text.startsWith(':')) return; // a comment (keep-alive)
          const colon = text.indexOf(':');
          const field = colon < 0 ? text : text.slice(0, colon);
          let value = colon < 0 ? '' : text.slice(colon + 1);
          if (value.startsWith(' ')) value = value.slice(1);
          if (field === 'data') data.push(value);
          else if (field === 'event') type = value;
          else if (field === 'id') { if (!value.includes('\0')) id = value; }
          else if (field === 'retry') { if (/^\d+$/.test(value)) retry = Number(value); }
        };
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          // A trailing CR may be the first half of a CRLF: wait for the next chunk.
          const cut = buf.endsWith('\r') ? buf.length - 1 : buf.length;
          const lines = buf.slice(0, cut).split(/\r\n|\r|\n/);
          buf = lines.pop() + buf.slice(cut);
          for (const l of lines) line(l);
        }
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof TokenNeeded) return;
      }
      if (signal.aborted) return;
      on.state('reconnecting');
      await sleep(retry, signal);
    }
  }

  // ---- token ----------------------------------------------------------------------

  function askForToken() {
    if (state.needToken) return;
    state.needToken = true;
    if (state.stream) state.stream.abort();
    setStatus('auth', 'token needed');
    $('auth-error').textContent = state.token ? 'the server refused this token' : '';
    $('auth').hidden = false;
    $('token').focus();
  }

  $('auth').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('token').value.trim();
    $('token').value = '';
    try { sessionStorage.setItem(TOKEN_KEY, state.token); } catch (_) { /* storage off */ }
    state.needToken = false;
    $('auth').hidden = true;
    loadHealth();
    restartStream();
    refreshRate();
    if (state.selected !== null) select(state.selected);
  });

  // ---- header ---------------------------------------------------------------------

  function setStatus(name, detail) {
    const s = $('status');
    s.dataset.state = name;
    s.textContent = detail ? `${name}: ${detail}` : name;
  }

  async function loadHealth() {
    if (state.needToken) return;
    try {
      const r = await api('/health');
      if (!r.ok) return;
      const h = await r.json();
      $('journal-id').textContent = String(h.journal || '');
      if (typeof h.next_seq === 'number') bumpNextSeq(h.next_seq);
    } catch (_) { /* shown by the stream's status */ }
  }

  function bumpNextSeq(n) {
    if (n > state.nextSeq) {
      state.nextSeq = n;
      $('next-seq').textContent = String(n);
    }
  }

  // ---- the table ------------------------------------------------------------------

  /** A byte-string field as text: UTF-8 as is, anything else marked as base64. */
  function str(v) {
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object' && typeof v.base64 === 'string') return `base64:${v.base64}`;
    return v === undefined || v === null ? '' : String(v);
  }

  function categoryOf(type) {
    const t = str(type);
    const dot = t.indexOf('.');
    return dot < 0 ? t : t.slice(0, dot);
  }

  function cell(tr, text, title) {
    const td = document.createElement('td');
    td.textContent = text;
    if (title) td.title = title;
    tr.appendChild(td);
  }

  function row(ev, fresh) {
    const tr = document.createElement('tr');
    tr.dataset.seq = String(ev.seq);
    tr.dataset.type = str(ev.type);
    if (fresh) tr.className = 'fresh';
    const time = str(ev.time);
    cell(tr, String(ev.seq));
    cell(tr, time.length >= 23 ? time.slice(11, 23) : time, time);
    cell(tr, str(ev.type));
    cell(tr, categoryOf(ev.type));
    cell(tr, str(ev.path), str(ev.path));
    cell(tr, str(ev.agent));
    if (ev.seq === state.selected) tr.classList.add('selected');
    return tr;
  }

  function remember(set, listId, value) {
    if (!value || set.has(value) || set.size >= 200) return;
    set.add(value);
    const o = document.createElement('option');
    o.value = value;
    $(listId).appendChild(o);
  }

  function received(ev) {
    if (!ev || typeof ev.seq !== 'number') return;
    state.received += 1;
    $('live-count').textContent = String(state.received);
    bumpNextSeq(ev.seq + 1);
    remember(state.types, 'known-types', str(ev.type));
    remember(state.categories, 'known-categories', categoryOf(ev.type));
    state.pending.push(ev);
    if (state.pending.length > ROW_LIMIT) state.pending.splice(0, state.pending.length - ROW_LIMIT);
    if (!state.flushTimer) state.flushTimer = setTimeout(flush, 100);
  }

  /** Puts the events received since the last flush at the top, in one DOM update. */
  function flush() {
    state.flushTimer = 0;
    const batch = state.pending;
    state.pending = [];
    if (batch.length === 0) return;
    const body = $('events').tBodies[0];
    const frag = document.createDocumentFragment();
    // A trickle is highlighted as it arrives; a backlog (the first fill) is not.
    const fresh = batch.length <= 20;
    for (let i = batch.length - 1; i >= 0; i -= 1) {
      const ev = batch[i];
      state.events.set(ev.seq, ev);
      frag.appendChild(row(ev, fresh));
    }
    body.insertBefore(frag, body.firstChild);
    while (body.rows.length > ROW_LIMIT) {
      const last = body.rows[body.rows.length - 1];
      state.events.delete(Number(last.dataset.seq));
      last.remove();
    }
  }

  function clearTable() {
    clearTimeout(state.flushTimer);
    state.flushTimer = 0;
    state.pending = [];
    state.events.clear();
    $('events').tBodies[0].replaceChildren();
  }

  $('events').tBodies[0].addEventListener('click', (e) => {
    const tr = e.target.closest('tr');
    if (tr && tr.dataset.seq) select(Number(tr.dataset.seq));
  });

  // ---- the live stream and the filters ------------------------------------------

  function streamUrl() {
    const q = new URLSearchParams();
    q.set('follow', '1');
    // The table starts full: the last ROW_LIMIT matching events, then new ones (a
    // reconnect's Last-Event-ID takes over from there).
    q.set('tail', String(ROW_LIMIT));
    for (const [k, v] of Object.entries(state.filters)) q.set(k, v);
    return '/events?' + q.toString();
  }

  function restartStream() {
    if (state.stream) state.stream.abort();
    if (state.needToken) return;
    clearTable();
    $('filter-error').textContent = '';
    const controller = new AbortController();
    state.stream = controller;
    setStatus('connecting');
    followStream(streamUrl(), controller.signal, {
      message: (data) => {
        // A chunk read just before a filter change belongs to the old table.
        if (controller.signal.aborted) return;
        try { received(JSON.parse(data)); } catch (_) { /* not an event */ }
      },
      error: (data) => {
        let text = data;
        try { text = JSON.parse(data).error || data; } catch (_) { /* plain text */ }
        setStatus('error', text);
      },
      state: (name, detail) => {
        if (controller.signal.aborted) return;
        setStatus(name, detail);
        if (name === 'error' && detail) $('filter-error').textContent = detail;
      },
    });
  }

  function readFilters() {
    const f = {};
    for (const [key, id] of [['type', 'f-type'], ['category', 'f-category'],
      ['path_prefix', 'f-path'], ['agent', 'f-agent']]) {
      const v = $(id).value.trim();
      if (v) f[key] = v;
    }
    return f;
  }

  $('filters').addEventListener('submit', (e) => {
    e.preventDefault();
    state.filters = readFilters();
    restartStream();
  });
  $('filters').addEventListener('reset', () => {
    // The inputs are cleared after this handler runs.
    setTimeout(() => { state.filters = {}; restartStream(); }, 0);
  });

  // ---- the rate chart -------------------------------------------------------------

  function svg(name, attrs, parent) {
    const el = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (parent) parent.appendChild(el);
    return el;
  }

  function svgText(parent, x, y, text, attrs) {
    const t = svg('text', Object.assign({ x, y }, attrs || {}), parent);
    t.textContent = text;
    return t;
  }

  function colorOf(category) {
    if (!state.colors.has(category)) {
      state.colors.set(category, PALETTE[state.colors.size % PALETTE.length]);
    }
    return state.colors.get(category);
  }

  function chartMessage(text, note) {
    const chart = $('chart');
    chart.dataset.state = 'unavailable';
    const w = chart.clientWidth || 600;
    const root = svg('svg', { viewBox: `0 0 ${w} 170`, role: 'img' });
    svgText(root, w / 2, 85, text, { class: 'empty', 'text-anchor': 'middle' });
    chart.replaceChildren(root);
    $('legend').replaceChildren();
    $('chart-note').textContent = note || '';
  }

  /** A bucket's start as HH:MM (UTC), from `time` or else `start_ns`. */
  function hhmm(bucket) {
    let t = str(bucket.time);
    if (!t && Number.isFinite(Number(bucket.start_ns))) {
      t = new Date(Number(bucket.start_ns) / 1e6).toISOString();
    }
    return t.length >= 16 ? t.slice(11, 16) : t;
  }

  function drawChart(rate) {
    const chart = $('chart');
    const buckets = Array.isArray(rate.buckets) ? rate.buckets : [];
    const cats = [];
    for (const b of buckets) {
      for (const c of Object.keys(b.counts || {})) if (!cats.includes(c)) cats.push(c);
    }
    cats.sort();
    cats.forEach(colorOf);
    let total = 0;
    let max = 0;
    for (const b of buckets) {
      let sum = 0;
      for (const c of cats) sum += Number((b.counts || {})[c]) || 0;
      total += sum;
      max = Math.max(max, sum);
    }
    chart.dataset.state = 'ok';
    chart.dataset.total = String(total);
    chart.dataset.buckets = String(buckets.length);
    $('chart-note').textContent = `per ${stepText(rate.step_ns)}, all events · updated ${new Date().toLocaleTimeString()}`;
    const w = chart.clientWidth || 600;
    const h = 170;
    const left = 40;
    const bottom = 18;
    const top = 8;
    const plotW = w - left - 6;
    const plotH = h - top - bottom;
    const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': 'event rate by category' });
    svg('line', { class: 'axis', x1: left, y1: top + plotH, x2: left + plotW, y2: top + plotH }, root);
    svgText(root, left - 4, top + 8, String(max), { 'text-anchor': 'end' });
    svgText(root, left - 4, top + plotH, '0', { 'text-anchor': 'end' });
    if (buckets.length === 0 || total === 0) {
      svgText(root, left + plotW / 2, top + plotH / 2, 'no events in this window', { class: 'empty', 'text-anchor': 'middle' });
    }
    const barW = buckets.length ? plotW / buckets.length : plotW;
    buckets.forEach((b, i) => {
      let y = top + plotH;
      const x = left + i * barW;
      for (const c of cats) {
        const n = Number((b.counts || {})[c]) || 0;
        if (n <= 0 || max <= 0) continue;
        const bh = (n / max) * plotH;
        y -= bh;
        const rect = svg('rect', {
          class: 'bar', x: x + 1, y, width: Math.max(1, barW - 2), height: bh,
          fill: colorOf(c), 'data-category': c, 'data-count': n,
        }, root);
        svg('title', {}, rect).textContent = `${str(b.time)} — ${c}: ${n}`;
      }
    });
    if (buckets.length > 0) {
      svgText(root, left, h - 4, hhmm(buckets[0]));
      svgText(root, left + plotW, h - 4, hhmm(buckets[buckets.length - 1]), { 'text-anchor': 'end' });
    }
    chart.replaceChildren(root);
    const legend = $('legend');
    legend.replaceChildren();
    for (const c of cats) {
      const item = document.createElement('span');
      const sw = svg('svg', { class: 'swatch', viewBox: '0 0 10 10', width: 10, height: 10 }, item);
      svg('rect', { width: 10, height: 10, rx: 2, fill: colorOf(c) }, sw);
      item.appendChild(document.createTextNode(' ' + c));
      legend.appendChild(item);
    }
  }

  function stepText(ns) {
    const s = Number(ns) / 1e9;
    if (!Number.isFinite(s) || s <= 0) return 'bucket';
    if (s % 3600 === 0) return `${s / 3600} h`;
    if (s % 60 === 0) return `${s / 60} min`;
    return `${s} s`;
  }

  async function refreshRate() {
    if (state.needToken) return;
    try {
      const r = await api('/stats/rate?' + RATE_QUERY);
      if (r.status === 404) {
        chartMessage('rate unavailable', 'this server has no /stats/rate');
        return;
      }
      if (!r.ok) {
        chartMessage('rate unavailable', await errorText(r));
        return;
      }
      drawChart(await r.json());
    } catch (e) {
      if (!(e instanceof TokenNeeded)) chartMessage('rate unavailable', String(e.message || e));
    }
  }

  // ---- the detail pane -------------------------------------------------------------

  async function select(seq) {
    state.selected = seq;
    const mine = ++state.selection;
    const current = () => mine === state.selection;
    for (const tr of $('events').tBodies[0].querySelectorAll('tr.selected')) tr.classList.remove('selected');
    const tr = $('events').tBodies[0].querySelector(`tr[data-seq="${seq}"]`);
    if (tr) tr.classList.add('selected');
    $('detail-title').textContent = `Event #${seq}`;
    $('detail-body').hidden = false;
    $('event-json').textContent = 'loading…';
    $('causality').replaceChildren(note('loading…'));
    $('tx-events').replaceChildren();
    $('tx-id').textContent = '';
    let ev = state.events.get(seq);
    try {
      if (!ev) {
        const r = await api(`/events/${seq}`);
        if (!current()) return;
        if (!r.ok) {
          $('event-json').textContent = await errorText(r);
          $('causality').replaceChildren();
          return;
        }
        ev = await r.json();
        if (!current()) return;
      }
      $('detail-title').textContent = `Event #${seq} — ${str(ev.type)}`;
      $('event-json').textContent = JSON.stringify(ev, null, 2);
      await Promise.all([loadCausality(seq, current), loadTransaction(ev, current)]);
    } catch (e) {
      if (current() && !(e instanceof TokenNeeded)) $('event-json').textContent = String(e.message || e);
    }
  }

  function note(text) {
    const p = document.createElement('p');
    p.className = 'note';
    p.textContent = text;
    return p;
  }

  async function loadCausality(seq, current) {
    const box = $('causality');
    const r = await api(`/events/${seq}/causality`);
    if (!current()) return;
    if (!r.ok) {
      const why = r.status === 404 ? 'causality unavailable' : `causality unavailable: ${await errorText(r)}`;
      box.replaceChildren(note(why));
      return;
    }
    const graph = await r.json();
    if (!current()) return;
    drawGraph(box, graph);
  }

  /** The causes and effects of one event, in columns by depth (causes to the left). */
  function drawGraph(box, graph) {
    const nodes = Array.isArray(graph.nodes) ? graph.nodes : [];
    const edges = (Array.isArray(graph.edges) ? graph.edges : [])
      .filter((e) => nodes.some((n) => n.seq === e.cause) && nodes.some((n) => n.seq === e.effect));
    const depth = new Map(nodes.map((n) => [n.seq, 0]));
    // Longest path from a node without causes; at most one pass per node, so a
    // cycle cannot loop forever.
    for (let pass = 0; pass < nodes.length; pass += 1) {
      let moved = false;
      for (const e of edges) {
        const d = depth.get(e.cause) + 1;
        if (d > depth.get(e.effect) && d < nodes.length) { depth.set(e.effect, d); moved = true; }
      }
      if (!moved) break;
    }
    const columns = [];
    for (const n of nodes) {
      const d = depth.get(n.seq);
      (columns[d] = columns[d] || []).push(n);
    }
    const cols = columns.filter(Boolean);
    const nodeW = 124;
    const nodeH = 34;
    const gapX = 34;
    const gapY = 10;
    const rows = Math.max(1, ...cols.map((c) => c.length));
    // An edge that skips a column (or stays in one) arcs over the nodes, in a band
    // above them.
    const arcs = edges.some((e) => depth.get(e.effect) - depth.get(e.cause) !== 1);
    const band = arcs ? 26 : 0;
    const w = Math.max(1, cols.length) * (nodeW + gapX) - gapX + 8;
    const h = rows * (nodeH + gapY) - gapY + 8 + band;
    const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': 'causality graph', 'data-nodes': nodes.length });
    const defs = svg('defs', {}, root);
    const marker = svg('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: 8, refY: 4, markerWidth: 7, markerHeight: 7, orient: 'auto' }, defs);
    svg('path', { class: 'arrow', d: 'M0,0 L8,4 L0,8 z' }, marker);
    const pos = new Map();
    cols.forEach((col, ci) => {
      col.sort((a, b) => a.seq - b.seq);
      const offset = ((rows - col.length) * (nodeH + gapY)) / 2;
      col.forEach((n, ri) => pos.set(n.seq, { x: 4 + ci * (nodeW + gapX), y: 4 + band + offset + ri * (nodeH + gapY) }));
    });
    for (const e of edges) {
      const a = pos.get(e.cause);
      const b = pos.get(e.effect);
      let d;
      if (depth.get(e.effect) - depth.get(e.cause) === 1) {
        const x1 = a.x + nodeW;
        const y1 = a.y + nodeH / 2;
        const x2 = b.x;
        const y2 = b.y + nodeH / 2;
        const mid = (x1 + x2) / 2;
        d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
      } else {
        const x1 = a.x + nodeW * 0.6;
        const x2 = b.x + nodeW * 0.4;
        const top = Math.min(a.y, b.y) - band + 4;
        d = `M${x1},${a.y} C${x1},${top} ${x2},${top} ${x2},${b.y}`;
      }
      const path = svg('path', {
        class: e.via === 'link' ? 'edge link' : 'edge',
        d,
        'marker-end': 'url(#arrow)',
        'data-cause': e.cause, 'data-effect': e.effect,
      }, root);
      const detail = e.via === 'link'
        ? `link${e.link_type !== undefined ? ' type ' + e.link_type : ''}${e.strength !== undefined ? ', strength ' + e.strength : ''}`
        : 'parent';
      svg('title', {}, path).textContent = `#${e.cause} → #${e.effect} (${detail})`;
    }
    for (const n of nodes) {
      const p = pos.get(n.seq);
      const g = svg('g', { class: n.seq === graph.seq ? 'node focus' : 'node', 'data-seq': n.seq, transform: `translate(${p.x},${p.y})` }, root);
      svg('rect', { width: nodeW, height: nodeH, rx: 4 }, g);
      svgText(g, 6, 14, `#${n.seq}${n.agent ? ' · ' + clip(str(n.agent), 10) : ''}`);
      svgText(g, 6, 27, clip(str(n.type), 21));
      svg('title', {}, g).textContent = [`#${n.seq} ${str(n.type)}`, str(n.time), str(n.path), str(n.agent)]
        .filter(Boolean).join('\n');
      g.addEventListener('click', () => select(n.seq));
    }
    const parts = [root];
    if (nodes.length <= 1) parts.push(note('No causes or effects are recorded for this event.'));
    if (graph.truncated) parts.push(note('The graph is truncated.'));
    box.replaceChildren(...parts);
  }

  function clip(text, n) {
    return text.length > n ? text.slice(0, n - 1) + '…' : text;
  }

  async function loadTransaction(ev, current) {
    const list = $('tx-events');
    if (!ev.tx) {
      $('tx-id').textContent = '';
      list.replaceChildren(note('Not part of a transaction.'));
      return;
    }
    $('tx-id').textContent = String(ev.tx);
    const q = new URLSearchParams({ tx: String(ev.tx), limit: String(TX_LIMIT) });
    const r = await api('/events?' + q.toString(), 'application/x-ndjson');
    if (!current()) return;
    if (!r.ok) {
      list.replaceChildren(note(await errorText(r)));
      return;
    }
    const events = ndjson(await r.text());
    if (!current()) return;
    list.replaceChildren(...events.map((e) => {
      const li = document.createElement('li');
      li.textContent = `#${e.seq} ${str(e.type)}${e.path ? ' ' + str(e.path) : ''}`;
      if (e.seq === ev.seq) li.className = 'current';
      li.addEventListener('click', () => select(e.seq));
      return li;
    }));
    if (events.length >= TX_LIMIT) list.appendChild(note(`(first ${TX_LIMIT} shown)`));
  }

  // ---- start ------------------------------------------------------------------------

  $('row-limit').textContent = String(ROW_LIMIT);
  loadHealth();
  restartStream();
  refreshRate();
  setInterval(loadHealth, HEALTH_REFRESH_MS);
  setInterval(refreshRate, RATE_REFRESH_MS);
})();
