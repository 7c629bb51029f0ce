"use strict";
// The interactive tree of tree.html: a rectangular tree on one canvas, one row per model, where
// only the rows in view are drawn. Nodes are in preorder, so every clade is a contiguous range of
// nodes [i, end[i]) and its models a contiguous range of tips.
(function () {
  const data = JSON.parse(document.getElementById("tree-data").textContent);
  const parent = Int32Array.from(data.parent);
  const length = Float64Array.from(data.length);
  const names = data.names;
  const N = parent.length;
  const T = names.length;
  const boot = data.bootstrap || null;
  const transfer = data.transfer || null;
  const concordance = data.concordance || null;
  const branchDelta = data.branch_delta || null;
  const weak = data.weak || null;
  const distanceWord = data.distance_name || "Nei distance";
  const PAD = 10;
  const STRIP = 12;
  const $ = (id) => document.getElementById(id);
  const scroller = $("scroller");
  const canvas = $("canvas");
  const spacer = $("spacer");
  const tooltip = $("tooltip");
  const ctx = canvas.getContext("2d");

  // ---- structure ----
  const depth = new Float64Array(N); // drawn: negative branch lengths as 0
  const dist = new Float64Array(N); // real lengths, for tree distances
  const level = new Int32Array(N);
  const tipOf = new Int32Array(N).fill(-1);
  const tipNode = new Int32Array(T);
  const size = new Int32Array(N);
  const end = new Int32Array(N);
  const lastChild = new Int32Array(N).fill(-1);
  const reach = new Float64Array(N); // deepest drawn depth below a node
  let k = 0;
  for (let i = 0; i < N; i++) {
    const p = parent[i];
    if (p >= 0) {
      depth[i] = depth[p] + Math.max(0, length[i]);
      dist[i] = dist[p] + length[i];
      level[i] = level[p] + 1;
      lastChild[p] = i;
    }
  }
  for (let i = 0; i < N; i++) {
    if (lastChild[i] < 0) { tipOf[i] = k; tipNode[k] = i; k++; }
  }
  const count = new Int32Array(N).fill(1);
  for (let i = N - 1; i >= 0; i--) {
    if (tipOf[i] >= 0) size[i] = 1;
    reach[i] = Math.max(reach[i], depth[i]);
    end[i] = i + count[i];
    const p = parent[i];
    if (p >= 0) { size[p] += size[i]; count[p] += count[i]; reach[p] = Math.max(reach[p], reach[i]); }
  }
  const maxDepth = reach[0] || 1;
  const lower = names.map((s) => s.toLowerCase());
  function* children(i) {
    for (let c = i + 1; c < end[i]; c = end[c]) yield c;
  }

  // ---- distances: embedded Nei matrix, or along the tree ----
  let nei = null;
  if (data.nei) {
    const raw = atob(data.nei);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    nei = new DataView(bytes.buffer);
  }
  function neiDistance(a, b) { // tips, in drawing order; little-endian float32 upper triangle
    if (a === b) return 0;
    const i = Math.min(a, b), j = Math.max(a, b);
    return nei.getFloat32(4 * (i * T - (i * (i + 1)) / 2 + (j - i - 1)), true);
  }
  function treeDistance(u, v) {
    let a = u, b = v;
    while (level[a] > level[b]) a = parent[a];
    while (level[b] > level[a]) b = parent[b];
    while (a !== b) { a = parent[a]; b = parent[b]; }
    return dist[u] + dist[v] - 2 * dist[a];
  }
  const down = new Float64Array(N); // shortest tree distance from a node to a tip below it
  const downTip = new Int32Array(N);
  for (let i = N - 1; i >= 0; i--) {
    if (tipOf[i] >= 0) { down[i] = 0; downTip[i] = tipOf[i]; continue; }
    down[i] = Infinity;
    for (const c of children(i)) {
      if (length[c] + down[c] < down[i]) { down[i] = length[c] + down[c]; downTip[i] = downTip[c]; }
    }
  }
  function nearest(t) { // [tip, distance] of the closest other model
    let best = Infinity, bestTip = -1;
    if (nei) {
      for (let j = 0; j < T; j++) {
        const d = j === t ? Infinity : neiDistance(t, j);
        if (d < best) { best = d; bestTip = j; }
      }
      return [bestTip, best];
    }
    let from = tipNode[t];
    for (let a = parent[from]; a >= 0; from = a, a = parent[a]) {
      const up = dist[tipNode[t]] - dist[a];
      for (const c of children(a)) {
        if (c === from) continue;
        const d = up + length[c] + down[c];
        if (d < best) { best = d; bestTip = downTip[c]; }
      }
    }
    return [bestTip, best];
  }
  const distanceName = nei ? distanceWord : "tree distance";

  // ---- layout: rows of models and collapsed clades ----
  const collapsed = new Uint8Array(N);
  const row = new Float64Array(N);
  const shownAs = new Int32Array(N); // the row node a node is drawn in (itself when visible)
  let rows = [];
  let inner = new Int32Array(0); // the internal nodes drawn, by row, to find one under the pointer
  let shownTips = 0;
  let rowH = 14;
  function layout() {
    rows = [];
    shownTips = 0;
    for (let i = 0; i < N;) {
      shownAs[i] = i;
      if (collapsed[i] || tipOf[i] >= 0) {
        row[i] = rows.length;
        rows.push(i);
        if (!collapsed[i]) shownTips++;
        for (let j = i + 1; j < end[i]; j++) shownAs[j] = i;
        i = end[i];
      } else i++;
    }
    for (let i = N - 1; i >= 0; i--) {
      if (shownAs[i] !== i || collapsed[i] || tipOf[i] >= 0) continue;
      let sum = 0, n = 0;
      for (const c of children(i)) { sum += row[c]; n++; }
      row[i] = sum / n;
    }
    const shown = [];
    for (let i = 0; i < N; i++) if (shownAs[i] === i && tipOf[i] < 0) shown.push(i);
    inner = Int32Array.from(shown.sort((a, b) => row[a] - row[b]));
    const nCollapsed = rows.length - shownTips;
    $("shown").textContent = `${shownTips} of ${T} models shown` +
      (nCollapsed ? ` (${nCollapsed} clade${nCollapsed > 1 ? "s" : ""} collapsed)` : "");
    $("shown").dataset.shown = String(shownTips);
    sizeCanvas();
  }

  // ---- geometry ----
  let W = 0, H = 0, labelW = 0, scaleX = 1;
  const dpr = window.devicePixelRatio || 1;
  const font = (px) => `${px}px system-ui, sans-serif`;
  const shortName = (s) => (s.length > 60 ? s.slice(0, 59) + "…" : s);
  function measureLabels() {
    ctx.font = font(12);
    const longest = names.map((s, i) => [s.length, i]).sort((a, b) => b[0] - a[0]).slice(0, 200);
    let w = 60;
    for (const [, i] of longest) w = Math.max(w, ctx.measureText(shortName(names[i])).width);
    return w + 12;
  }
  const measured = measureLabels();
  function sizeCanvas() {
    W = scroller.clientWidth;
    H = scroller.clientHeight;
    canvas.width = Math.round(W * dpr);
    canvas.height = Math.round(H * dpr);
    canvas.style.width = W + "px";
    canvas.style.height = H + "px";
    spacer.style.height = Math.max(0, totalHeight() - H) + "px";
    labelW = Math.min(measured, 0.45 * W);
    scaleX = Math.max(40, W - 2 * PAD - labelW - STRIP) / maxDepth;
  }
  const totalHeight = () => 2 * PAD + rows.length * rowH;
  const X = (i) => PAD + depth[i] * scaleX;
  const Y = (i) => PAD + (row[shownAs[i]] + 0.5) * rowH - scroller.scrollTop;
  const fitRowH = () => Math.max(0.01, (H - 2 * PAD) / Math.max(1, rows.length));

  // ---- search and selection ----
  let matches = [];
  let isMatch = new Uint8Array(T);
  let current = -1;
  let selected = -1; // the model distances are measured from
  let hover = -1;

  function cladeLabel(i) {
    const first = firstTip(i);
    let lo = names[first], hi = names[first];
    for (let t = first; t < first + size[i]; t++) {
      if (names[t] < lo) lo = names[t];
      if (names[t] > hi) hi = names[t];
    }
    let n = 0;
    while (n < lo.length && lo[n] === hi[n]) n++;
    const prefix = lo.slice(0, n).replace(/[-_/. ]+$/, "");
    return `${size[i]} models` + (prefix.length >= 3 ? ` (${shortName(prefix)}…)` : ` (${shortName(lo)}, …)`);
  }
  const firstTip = (i) => { let j = i; while (tipOf[j] < 0) j++; return tipOf[j]; };

  // ---- drawing ----
  function draw() {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    const lo = -rowH - 4, hi = H + rowH + 4;
    const inView = (y) => y >= lo && y <= hi;
    const r0 = Math.max(0, Math.floor((scroller.scrollTop - PAD) / rowH) - 1);
    const r1 = Math.min(rows.length, Math.ceil((scroller.scrollTop + H - PAD) / rowH) + 1);
    const labels = rowH >= 5.5;
    const fs = Math.min(12, Math.max(6, rowH - 2));
    // branches
    ctx.beginPath();
    for (let i = 0; i < N;) {
      const y = Y(i);
      if (i > 0 && inView(y)) { ctx.moveTo(X(parent[i]), y); ctx.lineTo(X(i), y); }
      if (collapsed[i] || tipOf[i] >= 0) { i = end[i]; continue; }
      const y1 = Y(i + 1), y2 = Y(lastChild[i]);
      if (y2 >= lo && y1 <= hi) { ctx.moveTo(X(i), y1); ctx.lineTo(X(i), y2); }
      i++;
    }
    ctx.strokeStyle = "#333";
    ctx.lineWidth = 1;
    ctx.stroke();
    // matches of the search: their branches, and a mark where names are too small to read
    const hit = new Uint8Array(rows.length);
    if (matches.length) {
      ctx.beginPath();
      ctx.fillStyle = "#e08a00";
      for (let r = r0; r < r1; r++) {
        const i = rows[r];
        hit[r] = tipOf[i] >= 0 ? isMatch[tipOf[i]] : cladeMatches(i);
        if (!hit[r] || i === 0) continue;
        ctx.moveTo(X(parent[i]), Y(i)); ctx.lineTo(X(i), Y(i));
        if (!labels) ctx.fillRect(X(i) + 2, Y(i) - Math.max(rowH, 3) / 2, 8, Math.max(rowH, 3));
      }
      ctx.strokeStyle = "#e08a00"; ctx.lineWidth = 2.5; ctx.stroke(); ctx.lineWidth = 1;
    }
    // collapsed clades, models' names
    ctx.textBaseline = "middle";
    for (let r = r0; r < r1; r++) {
      const i = rows[r], y = Y(i), x = X(i);
      let text;
      if (collapsed[i]) {
        const x2 = PAD + reach[i] * scaleX, h = Math.max(1, 0.42 * rowH);
        ctx.beginPath();
        ctx.moveTo(x, y); ctx.lineTo(Math.max(x2, x + 8), y - h); ctx.lineTo(Math.max(x2, x + 8), y + h);
        ctx.closePath();
        ctx.fillStyle = "#9bb7d4"; ctx.fill();
        ctx.strokeStyle = "#4a6f99"; ctx.stroke();
        text = "▸ " + cladeLabel(i);
      } else text = shortName(names[tipOf[i]]);
      if (!labels) continue;
      const bold = tipOf[i] >= 0 && tipOf[i] === selected;
      const left = (collapsed[i] ? Math.max(PAD + reach[i] * scaleX, x + 8) : x) + 4;
      ctx.font = (bold ? "bold " : "") + font(fs);
      if (hit[r]) {
        ctx.fillStyle = "#ffe14d";
        ctx.fillRect(left - 2, y - rowH / 2, ctx.measureText(text).width + 4, rowH);
      }
      ctx.fillStyle = bold ? "#0b57d0" : collapsed[i] ? "#4a6f99" : "#222";
      ctx.fillText(text, left, y);
    }
    // internal nodes and their supports
    const showSupport = boot && rowH >= 9;
    ctx.font = font(9);
    ctx.textAlign = "right";
    ctx.textBaseline = "bottom";
    for (let i = 0; i < N;) {
      if (collapsed[i] || tipOf[i] >= 0) { i = end[i]; continue; }
      const y = Y(i);
      if (inView(y)) {
        if (rowH >= 4) { ctx.fillStyle = "#555"; ctx.fillRect(X(i) - 1.5, y - 1.5, 3, 3); }
        const isWeak = weak ? weak[i] === 1 : boot && boot[i] >= 0 && boot[i] < 70;
        if (showSupport && i > 0 && boot[i] >= 0) {
          ctx.fillStyle = isWeak ? "#d62728" : "#777";
          ctx.fillText(String(boot[i]), X(i) - 3, y - 1);
        } else if (!boot && isWeak && rowH >= 9 && i > 0) {
          ctx.fillStyle = "#d62728";
          ctx.fillText("weak", X(i) - 3, y - 1);
        }
      }
      i++;
    }
    ctx.textAlign = "left";
    if (hover >= 0 && inView(Y(hover))) {
      ctx.beginPath(); ctx.arc(X(hover), Y(hover), 5, 0, 2 * Math.PI);
      ctx.strokeStyle = "#0b57d0"; ctx.lineWidth = 2; ctx.stroke(); ctx.lineWidth = 1;
    }
    drawScale();
    drawStrip();
    if (!labels) {
      ctx.font = font(11); ctx.fillStyle = "#777"; ctx.textAlign = "right"; ctx.textBaseline = "top";
      ctx.fillText("names show when zoomed in (+, or Ctrl + wheel)", W - STRIP - 6, 4);
      ctx.textAlign = "left";
    }
  }
  function cladeMatches(i) {
    const first = firstTip(i);
    for (let t = first; t < first + size[i]; t++) if (isMatch[t]) return true;
    return false;
  }
  function drawScale() {
    const target = 80 / scaleX;
    const p = Math.pow(10, Math.floor(Math.log10(target)));
    const unit = [1, 2, 5, 10].map((m) => m * p).find((v) => v >= target) || p;
    const w = unit * scaleX, y = H - 12;
    ctx.fillStyle = "rgba(255,255,255,.85)";
    ctx.fillRect(PAD - 4, y - 16, w + 8, 24);
    ctx.strokeStyle = "#333";
    ctx.beginPath(); ctx.moveTo(PAD, y); ctx.lineTo(PAD + w, y);
    ctx.moveTo(PAD, y - 3); ctx.lineTo(PAD, y + 3); ctx.moveTo(PAD + w, y - 3); ctx.lineTo(PAD + w, y + 3);
    ctx.stroke();
    ctx.fillStyle = "#333"; ctx.font = font(10); ctx.textBaseline = "bottom";
    ctx.fillText(`${+unit.toPrecision(3)} (${distanceWord})`, PAD, y - 3);
  }
  function drawStrip() { // where the view, the matches and the selected model are in the tree
    const total = totalHeight();
    if (total <= H) return;
    const x = W - STRIP, f = H / total;
    ctx.fillStyle = "#eee"; ctx.fillRect(x, 0, STRIP, H);
    ctx.fillStyle = "rgba(11,87,208,.18)";
    ctx.fillRect(x, scroller.scrollTop * f, STRIP, Math.max(2, H * f));
    const mark = (t, colour) => {
      ctx.fillStyle = colour;
      ctx.fillRect(x, (PAD + (row[shownAs[tipNode[t]]] + 0.5) * rowH) * f - 1, STRIP, 2);
    };
    for (const t of matches) mark(t, "#e08a00");
    if (selected >= 0) mark(selected, "#0b57d0");
  }
  let pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  }

  // ---- interaction ----
  function nodeAt(cx, cy) {
    if (cx >= W - STRIP && totalHeight() > H) return -2;
    let best = -1, bestD = 49;
    const at = (cy + scroller.scrollTop - PAD) / rowH - 0.5, reach = 7 / rowH;
    let a = 0, b = inner.length;
    while (a < b) { const m = (a + b) >> 1; if (row[inner[m]] < at - reach) a = m + 1; else b = m; }
    for (let k = a; k < inner.length && row[inner[k]] <= at + reach; k++) {
      const i = inner[k], dx = cx - X(i), dy = cy - Y(i), d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = i; }
    }
    if (best >= 0) return best;
    const r = Math.floor((cy + scroller.scrollTop - PAD) / rowH);
    if (r < 0 || r >= rows.length) return -1;
    return cx >= X(rows[r]) - 6 ? rows[r] : -1;
  }
  function describe(i) {
    const lines = [];
    let head;
    if (tipOf[i] >= 0) {
      const t = tipOf[i];
      head = names[t];
      lines.push(`branch length: ${fmt(length[i])}`);
      if (selected >= 0 && selected !== t) {
        const d = nei ? neiDistance(selected, t) : treeDistance(tipNode[selected], i);
        lines.push(`${distanceName} to ${names[selected]}: ${fmt(d)}`);
      }
      const [n, d] = nearest(t);
      if (n >= 0) lines.push(`nearest model: ${names[n]} (${distanceName} ${fmt(d)})`);
      lines.push(t === selected ? "distances are measured from this model"
        : "click: measure distances from this model");
    } else {
      head = i === 0 ? `the whole tree: ${size[i]} models` : `clade of ${cladeLabel(i)}`;
      if (i > 0) lines.push(`branch length: ${fmt(length[i])}`);
      if (boot && i > 0 && boot[i] >= 0) {
        lines.push(`branch support: bootstrap ${boot[i]}%, transfer ${transfer[i]}%`);
      }
      if (concordance && i > 0 && concordance[i] >= 0) {
        lines.push(`quartet concordance: ${concordance[i]}, branch δ: ${branchDelta[i]}` +
          (weak[i] ? " (weak split)" : ""));
      }
      lines.push(collapsed[i] ? "click: expand" : "click: collapse");
    }
    tooltip.replaceChildren();
    const b = document.createElement("b");
    b.textContent = head;
    tooltip.append(b, "\n" + lines.join("\n"));
  }
  const fmt = (v) => (v === 0 ? "0" : v.toPrecision(4)); // 4 significant digits
  function showTooltip(i, clientX, clientY) {
    describe(i);
    tooltip.style.display = "block";
    const w = tooltip.offsetWidth, h = tooltip.offsetHeight;
    tooltip.style.left = Math.min(clientX + 14, window.innerWidth - w - 4) + "px";
    tooltip.style.top = (clientY + 14 + h > window.innerHeight ? clientY - h - 10 : clientY + 14) + "px";
  }
  function local(event) {
    const box = canvas.getBoundingClientRect();
    return [event.clientX - box.left, event.clientY - box.top];
  }
  canvas.addEventListener("mousemove", (event) => {
    const [cx, cy] = local(event);
    const i = nodeAt(cx, cy);
    const found = i >= 0 ? i : -1;
    if (found !== hover) { hover = found; redraw(); }
    canvas.style.cursor = i === -1 ? "default" : "pointer";
    if (found >= 0) showTooltip(found, event.clientX, event.clientY);
    else tooltip.style.display = "none";
  });
  canvas.addEventListener("mouseleave", () => {
    tooltip.style.display = "none";
    if (hover >= 0) { hover = -1; redraw(); }
  });
  canvas.addEventListener("click", (event) => {
    const [cx, cy] = local(event);
    const i = nodeAt(cx, cy);
    if (i === -2) { scroller.scrollTop = (cy / H) * totalHeight() - H / 2; return; }
    if (i < 0) return;
    if (tipOf[i] >= 0 && !collapsed[i]) selected = tipOf[i];
    else toggle(i, cy);
    if (hover >= 0) showTooltip(hover, event.clientX, event.clientY);
    redraw();
  });
  function toggle(i, atY) { // collapse or expand, keeping the node where it was on screen
    collapsed[i] = collapsed[i] ? 0 : 1;
    layout();
    scroller.scrollTop = PAD + (row[i] + 0.5) * rowH - atY;
    hover = i;
  }
  function zoom(factor, atY) {
    const at = (scroller.scrollTop + atY - PAD) / rowH;
    rowH = Math.min(40, Math.max(Math.min(fitRowH(), 14), rowH * factor));
    sizeCanvas();
    scroller.scrollTop = PAD + at * rowH - atY;
    redraw();
  }
  canvas.addEventListener("wheel", (event) => {
    if (!event.ctrlKey) return;
    event.preventDefault();
    zoom(event.deltaY < 0 ? 1.25 : 0.8, local(event)[1]);
  }, { passive: false });
  $("zoom-in").onclick = () => zoom(1.5, H / 2);
  $("zoom-out").onclick = () => zoom(1 / 1.5, H / 2);
  $("fit").onclick = () => { rowH = Math.min(40, fitRowH()); sizeCanvas(); scroller.scrollTop = 0; redraw(); };
  $("expand-all").onclick = () => { collapsed.fill(0); layout(); redraw(); };
  scroller.addEventListener("scroll", () => { tooltip.style.display = "none"; redraw(); });
  new ResizeObserver(() => {
    if (scroller.clientWidth !== W || scroller.clientHeight !== H) { sizeCanvas(); redraw(); }
  }).observe(scroller);

  function reveal(i) { // expand the clades hiding a node and scroll it to the middle of the view
    let changed = false;
    for (let a = parent[i]; a >= 0; a = parent[a]) if (collapsed[a]) { collapsed[a] = 0; changed = true; }
    if (changed) layout();
    const y = PAD + (row[i] + 0.5) * rowH;
    if (y < scroller.scrollTop + 2 * rowH || y > scroller.scrollTop + H - 2 * rowH) {
      scroller.scrollTop = y - H / 2;
    }
    redraw();
  }
  function search(text) {
    const query = text.trim().toLowerCase();
    isMatch = new Uint8Array(T);
    matches = [];
    if (query) for (let t = 0; t < T; t++) if (lower[t].includes(query)) { matches.push(t); isMatch[t] = 1; }
    current = -1;
    if (matches.length) goTo(0);
    showCount();
    redraw();
  }
  function goTo(m) {
    current = ((m % matches.length) + matches.length) % matches.length;
    selected = matches[current];
    reveal(tipNode[selected]);
    showCount();
  }
  function showCount() {
    const n = matches.length, el = $("match-count");
    el.dataset.count = String(n);
    el.textContent = !$("search").value.trim() ? "" : n === 0 ? "no match"
      : n === 1 ? "1 match" : `${n} matches (${current + 1} of ${n})`;
  }
  $("search").addEventListener("input", (event) => search(event.target.value));
  $("search").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && matches.length) goTo(current + (event.shiftKey ? -1 : 1));
    if (event.key === "Escape") { event.target.value = ""; search(""); }
  });
  $("next").onclick = () => matches.length && goTo(current + 1);
  $("prev").onclick = () => matches.length && goTo(current - 1);

  // ---- legend ----
  $("legend").textContent = `Branch lengths are ${distanceWord}s; an unrooted tree is drawn ` +
    "rooted at its midpoint, so read its groupings, not its root. " + (boot
    ? `Numbers at the nodes: bootstrap support (%), the share of ${data.resamples} trees built ` +
      "on resampled genes that contain the node's branch; red marks a weak grouping (support " +
      `below ${data.weak_support}, quartet concordance below ${data.weak_concordance} or ` +
      `branch δ above ${data.weak_branch_delta}). Hover a node for its transfer support, ` +
      "quartet concordance and branch δ as well. "
    : "No bootstrap supports: they were not computed for this tree (see report.md). ") +
    (data.delta !== undefined && data.delta > data.untrusted_delta
      ? `The distances fit no tree well (δ-score ${data.delta}): read families from this ` +
        "tree, not which model was fine-tuned from which; every grouping is marked weak. "
      : "") +
    "Click a node to collapse or expand its clade; click a model to measure distances from it.";
  $("distance-note").textContent = nei
    ? `Distances in the tooltips are ${distanceWord}s between the models (embedded as float32; ` +
      "distances.csv, or distances.npy past 2,000 models, holds them in full)."
    : "Distances in the tooltips are tree distances (the sum of branch lengths on the path " +
      "between two models), not Nei distances: " + (T > data.nei_max
        ? `past ${data.nei_max} models the Nei distance matrix is not embedded in this page ` +
          "(distances.csv, or distances.npy past 2,000 models, holds it)."
        : "this page was made without the Nei distance matrix.");

  // ---- start ----
  layout();
  rowH = Math.min(22, Math.max(14, fitRowH()));
  sizeCanvas();
  draw();
  window.phyloTree = {
    firstDrawMs: performance.now(),
    models: T,
    nodes: N,
    distances: nei ? "nei" : "tree",
    cladeSize: (i) => size[i],
    isModel: (i) => tipOf[i] >= 0,
    nodeOf: (name) => tipNode[names.indexOf(name)],
    shownModels: () => shownTips,
    matches: () => matches.map((t) => names[t]),
    selected: () => (selected >= 0 ? names[selected] : null),
    reveal: (i) => { reveal(i); draw(); },
    position: (i) => { // where a node is on the page, in client coordinates
      const box = canvas.getBoundingClientRect();
      return { x: box.left + X(i), y: box.top + Y(i) };
    },
  };
})();
