#pragma once
// The stylesheet, toolbar and script of the HTML timeline page (html_timeline.cpp). The script
// reads the Chrome trace events embedded in #trace-data and draws them on a canvas; it uses no
// library and nothing from the network.

namespace simrun::testing::detail {

inline constexpr const char* timeline_css = R"css(
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       background: #fff; }
header { padding: 10px 16px 6px; border-bottom: 1px solid #ddd; background: #fafafa; }
h1 { font-size: 18px; margin: 0 0 2px; }
h2 { font-size: 14px; margin: 14px 0 6px; }
#failure { margin: 2px 0; color: #b00000; font-weight: 600; }
#summary { margin: 2px 0 6px; color: #555; }
#controls { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
#controls button { font: inherit; min-width: 32px; padding: 2px 8px; border: 1px solid #bbb;
                   border-radius: 4px; background: #fff; cursor: pointer; }
#controls button:hover { background: #eef; }
.hint { color: #777; margin: 0 10px 0 4px; }
#legend { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: center; }
.key { display: inline-flex; align-items: center; gap: 4px; white-space: nowrap; }
.swatch { display: inline-block; width: 14px; height: 10px; border-radius: 2px; }
.swatch.bar { height: 4px; }
.swatch.diamond { width: 9px; height: 9px; transform: rotate(45deg); border-radius: 1px; }
.swatch.line { width: 2px; height: 14px; }
main { padding: 8px 16px 24px; }
#timeline { position: relative; border: 1px solid #ddd; user-select: none; }
#canvas { display: block; cursor: grab; }
#canvas.dragging { cursor: grabbing; }
#tooltip { position: absolute; pointer-events: none; background: rgba(20, 20, 30, 0.92);
           color: #fff; padding: 5px 8px; border-radius: 4px; font-size: 12px; max-width: 480px;
           white-space: pre-wrap; word-break: break-word; z-index: 2; }
table { border-collapse: collapse; font-size: 12px; }
th, td { text-align: left; padding: 2px 10px 2px 0; border-bottom: 1px solid #eee; }
td.number { text-align: right; }
ol.tail { font: 12px/1.5 ui-monospace, "DejaVu Sans Mono", monospace; margin: 0;
          padding-left: 64px; background: #f7f7f7; border: 1px solid #e4e4e4; }
ol.tail li:last-child { color: #b00000; font-weight: 600; }
)css";

inline constexpr const char* timeline_controls = R"html(<nav id="controls">
<button id="zoom-in" title="zoom in (+)">+</button><button id="zoom-out" title="zoom out (-)">&minus;</button><button id="pan-left" title="earlier (left arrow)">&larr;</button><button id="pan-right" title="later (right arrow)">&rarr;</button><button id="fit" title="the whole run (0)">fit</button>
<span class="hint">wheel: zoom &middot; drag: pan &middot; shift+wheel: scroll the tracks</span>
<span id="legend"></span>
</nav>
)html";

inline constexpr const char* timeline_js = R"js(
"use strict";
(function () {
  const ROW = 22, AXIS = 30, GUTTER = 210, MIN_SPAN = 5;
  const KINDS = {
    signal: ["#d62728", "signal"], net: ["#1f77b4", "network"],
    executor: ["#2ca02c", "executor job"], time: ["#9e9e9e", "time jump"],
    log: ["#bcbd22", "log line"], process: ["#9467bd", "process"],
    busy: ["#8c564b", "busy callback"], loop: ["#ff7f0e", "loop"],
    deadlock: ["#000000", "deadlock"], livelock: ["#000000", "livelock"]
  };
  const OTHER = "#7f7f7f", FAILURE = "#c00000";
  const body = document.body;
  const box = document.getElementById("timeline");
  const canvas = document.getElementById("canvas");
  const tooltip = document.getElementById("tooltip");
  const ctx = canvas.getContext("2d");
  const failed = document.getElementById("failure") !== null;

  // ---- The data: Chrome trace events -> tracks of slices (ph "X") and instants (ph "i").
  const data = JSON.parse(document.getElementById("trace-data").textContent);
  const byTid = new Map();
  function trackOf(tid) {
    let track = byTid.get(tid);
    if (!track) {
      track = { tid: tid, name: "track " + tid, sort: tid, slices: [], instants: [] };
      byTid.set(tid, track);
    }
    return track;
  }
  // A log line is drawn on the row of the step that wrote it (same step number, the latest
  // step slice before it), with its text; events of the whole run (global) are labelled too.
  const kindPrefix = /^[a-z]+: /, logPrefix = /^log: (debug |info )?/i;
  let first = Infinity, last = -Infinity, firstT = "", lastT = "", steps = 0, lastRun = null;
  for (const e of data.traceEvents || []) {
    if (e.ph === "M") {
      if (e.tid === undefined) continue;
      if (e.name === "thread_name") trackOf(e.tid).name = String(e.args.name);
      if (e.name === "thread_sort_index") trackOf(e.tid).sort = Number(e.args.sort_index);
      continue;
    }
    if (e.ph !== "X" && e.ph !== "i" && e.ph !== "I") continue;
    const item = { ts: e.ts, end: e.ts + (e.ph === "X" ? e.dur || 0 : 0), name: String(e.name),
                   cat: e.cat || "", args: e.args || {}, global: e.s === "g" };
    if (item.ts < first) { first = item.ts; firstT = item.args.t; }
    if (item.end >= last) { last = item.end; lastT = item.args.t; }
    if (e.ph === "X") {
      trackOf(e.tid).slices.push(item);
      if (item.cat !== "await") {
        steps++;
        lastRun = { tid: e.tid, step: item.args.step };
      }
    } else if (item.cat === "log" && lastRun && lastRun.step === item.args.step) {
      item.label = item.name.replace(logPrefix, "");
      trackOf(lastRun.tid).instants.push(item);
    } else {
      if (item.global) item.label = item.name.replace(kindPrefix, "");
      trackOf(e.tid).instants.push(item);
    }
  }
  const empty = !(last >= first);
  const tracks = [...byTid.values()].sort((a, b) => a.sort - b.sort || a.tid - b.tid);
  const globals = [];
  tracks.forEach(function (track, index) {
    const byTime = (a, b) => a.ts - b.ts;
    track.slices.sort(byTime);
    track.instants.sort(byTime);
    // reach[i]: the latest end among slices[0..i]; a binary search on it finds the first
    // slice that reaches into the view.
    track.reach = new Float64Array(track.slices.length);
    let reach = -Infinity;
    track.slices.forEach(function (s, i) { reach = Math.max(reach, s.end); track.reach[i] = reach; });
    track.hue = (index * 137.508 + 210) % 360;
    track.steps = track.slices.filter((s) => s.cat !== "await");
    for (const m of track.instants) if (m.global) globals.push(m);
  });
  globals.sort((a, b) => a.ts - b.ts);
  const tasks = tracks.filter((t) => t.tid > 2).length;

  // ---- The view: [t0, t1] in the trace's microseconds, and a vertical scroll in pixels.
  const span = empty ? 1 : Math.max(last - first, MIN_SPAN);
  const fit = empty ? { t0: 0, t1: 1 } : { t0: first - span * 0.02, t1: last + span * 0.03 };
  let view = { t0: fit.t0, t1: fit.t1 }, scrollY = 0, width = 0, height = 0, pending = false;
  const plotWidth = () => Math.max(1, width - GUTTER - 8);
  const xOf = (t) => GUTTER + ((t - view.t0) / (view.t1 - view.t0)) * plotWidth();
  const tOf = (x) => view.t0 + ((x - GUTTER) / plotWidth()) * (view.t1 - view.t0);
  const kindColor = (cat) => (KINDS[cat] ? KINDS[cat][0] : OTHER);

  function lowerBound(n, key, value) {  // the first i in [0, n) with key(i) >= value
    let lo = 0, hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (key(mid) < value) lo = mid + 1; else hi = mid;
    }
    return lo;
  }
  function nameColor(name) {  // callbacks: a colour per callback name
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) % 360;
    return "hsl(" + h + ",55%,45%)";
  }
  function clampScroll() {
    const most = Math.max(0, AXIS + tracks.length * ROW + 4 - height);
    scrollY = Math.min(Math.max(scrollY, 0), most);
  }
  function fitText(text, room) {
    if (ctx.measureText(text).width <= room) return text;
    let n = text.length;
    while (n > 1 && ctx.measureText(text.slice(0, n) + "\u2026").width > room) n--;
    return text.slice(0, n) + "\u2026";
  }

  // ---- Drawing.
  function tickStep(range) {
    const raw = Math.max(1, range / Math.max(1, plotWidth() / 110));  // 1 us: the resolution
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5]) if (m * power >= raw) return m * power;
    return 10 * power;
  }
  function timeLabel(us, step) {
    const decimals = Math.max(0, Math.min(6, Math.ceil(-Math.log10(step / 1e6) - 1e-9)));
    return (us / 1e6).toFixed(decimals) + "s";
  }
  function drawAxis(step) {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, AXIS);
    ctx.fillStyle = "#555";
    ctx.textAlign = "left";
    ctx.fillText("virtual time \u2192", 8, AXIS / 2);
    ctx.strokeStyle = "#999";
    ctx.beginPath();
    ctx.moveTo(GUTTER, AXIS - 0.5);
    ctx.lineTo(width, AXIS - 0.5);
    ctx.stroke();
    ctx.textAlign = "center";
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1 && !empty; t += step) {
      const x = Math.round(xOf(t)) + 0.5;
      if (x < GUTTER) continue;
      ctx.beginPath();
      ctx.moveTo(x, AXIS - 6);
      ctx.lineTo(x, AXIS);
      ctx.stroke();
      ctx.fillText(timeLabel(t, step), x, AXIS / 2 - 2);
    }
  }
  function drawGrid(step) {
    ctx.strokeStyle = "#e6e6e6";
    ctx.beginPath();
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      const x = Math.round(xOf(t)) + 0.5;
      ctx.moveTo(x, AXIS);
      ctx.lineTo(x, height);
    }
    ctx.stroke();
  }
  function drawGlobals() {  // signals and deadlock/livelock reports cross every row
    const list = globals.slice(lowerBound(globals.length, (i) => globals[i].ts, view.t0));
    let lastX = -1;
    ctx.setLineDash([4, 3]);
    for (const m of list) {
      if (m.ts > view.t1) break;
      const x = Math.round(xOf(m.ts)) + 0.5;
      if (x === lastX) continue;
      lastX = x;
      ctx.strokeStyle = kindColor(m.cat);
      ctx.beginPath();
      ctx.moveTo(x, AXIS);
      ctx.lineTo(x, height);
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }
  function drawSlices(track, y, wantAwait) {  // at most one box per pixel column and kind
    const slices = track.slices;
    let count = 0, lastPx = -Infinity;
    const start = lowerBound(slices.length, (i) => track.reach[i], view.t0);
    const stepColor = "hsl(" + track.hue + ",62%,42%)";
    ctx.fillStyle = wantAwait ? "hsl(" + track.hue + ",45%,80%)" : stepColor;
    for (let i = start; i < slices.length; i++) {
      const s = slices[i];
      if (s.ts > view.t1) break;
      if ((s.cat === "await") !== wantAwait) continue;
      count++;
      let x0 = Math.max(xOf(s.ts), GUTTER - 2), x1 = Math.min(xOf(s.end), width + 2);
      if (x1 - x0 < 1) {
        const px = Math.floor(x0);
        if (px === lastPx) continue;
        lastPx = px;
        x0 = px;
        x1 = px + 1;
      }
      if (wantAwait) {
        ctx.fillRect(x0, y + ROW * 0.42, x1 - x0, ROW * 0.16);
      } else {
        if (track.tid === 2) ctx.fillStyle = nameColor(s.name);
        ctx.fillRect(x0, y + 4, x1 - x0, ROW - 8);
        if (track.tid === 2 && x1 - x0 > 40) {
          ctx.fillStyle = "#fff";
          ctx.fillText(fitText(s.name, x1 - x0 - 6), x0 + 3, y + ROW / 2);
        }
      }
    }
    return count;
  }
  function drawInstants(track, y) {
    const list = track.instants;
    const lastPx = {}, labels = [];
    for (let i = lowerBound(list.length, (k) => list[k].ts, view.t0); i < list.length; i++) {
      const m = list[i];
      if (m.ts > view.t1) break;
      const x = Math.round(xOf(m.ts));
      if (lastPx[m.cat] === x) continue;
      lastPx[m.cat] = x;
      ctx.fillStyle = kindColor(m.cat);
      if (m.cat === "time") {  // frequent: a small tick
        ctx.fillRect(x, y + ROW - 7, 1, 5);
        continue;
      }
      const cy = y + ROW / 2 - 1, r = 5;
      ctx.beginPath();
      ctx.moveTo(x, cy - r);
      ctx.lineTo(x + r, cy);
      ctx.lineTo(x, cy + r);
      ctx.lineTo(x - r, cy);
      ctx.closePath();
      ctx.fill();
      if (m.label) labels.push([x, m.label]);
    }
    let free = -Infinity;  // labels left to right, each only where the previous one ended
    ctx.textAlign = "left";
    for (const [x, text] of labels) {
      if (x + 7 < free) continue;
      const shown = fitText(text, 260);
      const w = ctx.measureText(shown).width;
      ctx.fillStyle = "rgba(255,255,255,0.85)";
      ctx.fillRect(x + 6, y + 3, w + 4, ROW - 6);
      ctx.fillStyle = "#333";
      ctx.fillText(shown, x + 8, y + ROW / 2);
      free = x + w + 16;
    }
  }
  function drawFailure() {
    const x = Math.round(xOf(last)) + 0.5;
    if (x < GUTTER || x > width) return;
    ctx.strokeStyle = FAILURE;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x, AXIS);
    ctx.lineTo(x, height);
    ctx.stroke();
    ctx.lineWidth = 1;
    ctx.fillStyle = FAILURE;
    ctx.textAlign = "right";
    ctx.fillText("failed here \u2716", x - 4, AXIS + ROW / 2);
    ctx.textAlign = "left";
  }
  function draw() {
    pending = false;
    ctx.clearRect(0, 0, width, height);
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    const step = tickStep(view.t1 - view.t0);
    const top = Math.max(0, Math.floor(scrollY / ROW));
    const bottom = Math.min(tracks.length - 1, Math.floor((scrollY + height - AXIS) / ROW));
    let drawn = 0;
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, AXIS, width, height - AXIS);
    ctx.clip();
    for (let i = top; i <= bottom; i++) {
      ctx.fillStyle = i % 2 ? "#f5f6f8" : "#fff";
      ctx.fillRect(0, AXIS + i * ROW - scrollY, width, ROW);
    }
    if (!empty) drawGrid(step);
    ctx.save();
    ctx.beginPath();
    ctx.rect(GUTTER, AXIS, width - GUTTER, height - AXIS);
    ctx.clip();
    if (!empty) {
      drawGlobals();
      ctx.textAlign = "left";
      for (let i = top; i <= bottom; i++) {
        const y = AXIS + i * ROW - scrollY;
        drawn += drawSlices(tracks[i], y, true);
        drawn += drawSlices(tracks[i], y, false);
        drawInstants(tracks[i], y);
      }
      if (failed) drawFailure();
    }
    ctx.restore();
    ctx.textAlign = "left";
    for (let i = top; i <= bottom; i++) {  // the track names, in the gutter
      const y = AXIS + i * ROW - scrollY;
      ctx.fillStyle = i % 2 ? "#eceef2" : "#f7f7f9";
      ctx.fillRect(0, y, GUTTER - 4, ROW);
      ctx.fillStyle = i < 2 ? "#666" : "hsl(" + tracks[i].hue + ",62%,32%)";
      ctx.fillText(fitText(tracks[i].name, GUTTER - 16), 8, y + ROW / 2);
    }
    ctx.restore();
    drawAxis(step);
    if (empty) {
      ctx.fillStyle = "#777";
      ctx.textAlign = "center";
      ctx.fillText("The trace is empty: nothing ran.", GUTTER + plotWidth() / 2, AXIS + ROW * 1.5);
    }
    body.setAttribute("data-rendered", String(drawn));
  }
  function redraw() {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(draw);
    }
  }
  function resize() {
    const ratio = window.devicePixelRatio || 1;
    width = Math.max(GUTTER + 100, box.clientWidth);
    const wanted = AXIS + tracks.length * ROW + 4;
    height = Math.max(AXIS + ROW * 3, Math.min(wanted, Math.floor(window.innerHeight * 0.72)));
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    clampScroll();
    draw();
  }

  // ---- Zoom, pan, tooltip.
  function zoomAt(t, factor) {
    const range = view.t1 - view.t0;
    const next = Math.min(Math.max(range * factor, MIN_SPAN), span * 8);
    const f = next / range;
    view = { t0: t - (t - view.t0) * f, t1: t + (view.t1 - t) * f };
    redraw();
  }
  function pan(fraction) {
    const d = (view.t1 - view.t0) * fraction;
    view = { t0: view.t0 + d, t1: view.t1 + d };
    redraw();
  }
  function scrollRows(pixels) {
    scrollY += pixels;
    clampScroll();
    redraw();
  }
  function hit(x, y) {
    if (x < GUTTER || y < AXIS || empty) return null;
    const track = tracks[Math.floor((y - AXIS + scrollY) / ROW)];
    if (!track) return null;
    const slack = ((view.t1 - view.t0) / plotWidth()) * 4, t = tOf(x);
    let best = null, distance = Infinity;
    const list = track.instants;
    for (let i = lowerBound(list.length, (k) => list[k].ts, t - slack); i < list.length; i++) {
      if (list[i].ts > t + slack) break;
      if (Math.abs(list[i].ts - t) < distance) {
        best = list[i];
        distance = Math.abs(list[i].ts - t);
      }
    }
    if (best) return { track: track, item: best };
    const slices = track.slices;
    let around = null;
    for (let i = lowerBound(slices.length, (k) => track.reach[k], t - slack); i < slices.length; i++) {
      const s = slices[i];
      if (s.ts > t + slack) break;
      const d = t < s.ts ? s.ts - t : t > s.end ? t - s.end : 0;
      if (s.cat !== "await" && d < distance) {
        best = s;
        distance = d;
      } else if (s.cat === "await" && d === 0) {
        around = s;
      }
    }
    return best || around ? { track: track, item: best || around } : null;
  }
  function describe(track, item) {
    const a = item.args;
    if (item.cat === "await")
      return [track.name + " is suspended (awaiting)", "resumes at t=" + a.t + ", step #" + a.step];
    const name = item.name === "step" ? "step of " + track.name : item.name;
    return [name, "t=" + a.t + "  step #" + a.step, "track: " + track.name];
  }
  function showTooltip(event) {
    const rect = canvas.getBoundingClientRect();
    const found = hit(event.clientX - rect.left, event.clientY - rect.top);
    if (!found) {
      tooltip.hidden = true;
      return;
    }
    tooltip.textContent = describe(found.track, found.item).join("\n");
    tooltip.hidden = false;
    const x = event.clientX - rect.left + 14, y = event.clientY - rect.top + 14;
    tooltip.style.left = Math.min(x, width - tooltip.offsetWidth - 4) + "px";
    tooltip.style.top = (y + tooltip.offsetHeight > height ? y - tooltip.offsetHeight - 20 : y) + "px";
  }
  let drag = null;
  canvas.addEventListener("wheel", function (event) {
    event.preventDefault();
    if (event.shiftKey) {
      scrollRows(event.deltaY || event.deltaX);
    } else {
      const rect = canvas.getBoundingClientRect();
      zoomAt(tOf(Math.max(event.clientX - rect.left, GUTTER)), Math.exp(event.deltaY * 0.0015));
    }
  }, { passive: false });
  canvas.addEventListener("mousedown", function (event) {
    drag = { x: event.clientX, y: event.clientY, view: view, scrollY: scrollY };
    canvas.classList.add("dragging");
    tooltip.hidden = true;
  });
  window.addEventListener("mousemove", function (event) {
    if (!drag) {
      if (event.target === canvas) showTooltip(event); else tooltip.hidden = true;
      return;
    }
    const dt = ((event.clientX - drag.x) / plotWidth()) * (drag.view.t1 - drag.view.t0);
    view = { t0: drag.view.t0 - dt, t1: drag.view.t1 - dt };
    scrollY = drag.scrollY - (event.clientY - drag.y);
    clampScroll();
    redraw();
  });
  window.addEventListener("mouseup", function () {
    drag = null;
    canvas.classList.remove("dragging");
  });
  canvas.addEventListener("mouseleave", function () { tooltip.hidden = true; });
  const centre = () => (view.t0 + view.t1) / 2;
  const actions = {
    "zoom-in": () => zoomAt(centre(), 0.5), "zoom-out": () => zoomAt(centre(), 2),
    "pan-left": () => pan(-0.25), "pan-right": () => pan(0.25),
    "fit": () => { view = { t0: fit.t0, t1: fit.t1 }; redraw(); }
  };
  for (const id of Object.keys(actions))
    document.getElementById(id).addEventListener("click", actions[id]);
  window.addEventListener("keydown", function (event) {
    const key = { "+": "zoom-in", "=": "zoom-in", "-": "zoom-out", "0": "fit",
                  ArrowLeft: "pan-left", ArrowRight: "pan-right" }[event.key];
    if (key) actions[key]();
    else if (event.key === "ArrowUp") scrollRows(-ROW);
    else if (event.key === "ArrowDown") scrollRows(ROW);
  });
  window.addEventListener("resize", resize);

  // ---- The header's summary, the legend and the table of tracks (HTML, at most 1000 rows).
  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }
  const info = data.otherData || {};
  let summary = (info.entries !== undefined ? info.entries : 0) + " trace entries";
  if (info.kept !== undefined && info.kept < info.entries) summary += " (the first " + info.kept + " drawn)";
  summary += " \u00b7 " + tasks + (tasks === 1 ? " task" : " tasks") + " \u00b7 " + steps + " steps";
  if (!empty) summary += " \u00b7 virtual time " + firstT + " to " + lastT;
  document.getElementById("summary").textContent = summary;

  const legend = document.getElementById("legend");
  function key(label, color, shape) {
    const item = element("span", undefined, "key");
    const swatch = element("span", undefined, "swatch " + (shape || ""));
    swatch.style.background = color;
    item.append(swatch, label);
    legend.append(item);
  }
  key("step (the task runs)", "hsl(210,62%,42%)");
  key("suspended (it awaits)", "hsl(210,45%,80%)", "bar");
  const seen = new Set();
  for (const track of tracks) for (const m of track.instants) seen.add(m.cat);
  for (const cat of Object.keys(KINDS)) if (seen.has(cat)) key(KINDS[cat][1], KINDS[cat][0], "diamond");
  for (const cat of seen) if (!KINDS[cat]) key(cat, OTHER, "diamond");
  if (failed) key("failure (end of the run)", FAILURE, "line");

  const rows = document.querySelector("#tracks tbody");
  tracks.slice(0, 1000).forEach(function (track) {
    const row = element("tr");
    const firstStep = track.steps[0], lastStep = track.steps[track.steps.length - 1];
    row.append(element("td", track.name), element("td", String(track.steps.length), "number"),
               element("td", firstStep ? "t=" + firstStep.args.t + " #" + firstStep.args.step : ""),
               element("td", lastStep ? "t=" + lastStep.args.t + " #" + lastStep.args.step : ""),
               element("td", String(track.instants.length), "number"));
    rows.append(row);
  });
  if (tracks.length > 1000)
    rows.append(element("tr", "\u2026 and " + (tracks.length - 1000) + " more tracks"));

  resize();
})();
)js";

}  // namespace simrun::testing::detail
