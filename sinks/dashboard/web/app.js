// SPDX-License-Identifier: GPL-3.0-or-later
// stemflow live dashboard: plain JS and canvas, no libraries.
//
// The engine sends server-sent events on /events: one "snapshot" (the whole state), then "delta"s
// with consecutive sequence numbers (see sinks/dashboard/dashboard_model.hpp for the format). The
// browser's EventSource reconnects by itself and sends the last event id, so the engine resumes us
// with the deltas we missed, or a snapshot if we were away too long. A gap in the sequence (which
// the server never sends on purpose) makes us ask for a fresh snapshot.
'use strict';

(function () {
  const query = new URLSearchParams(location.search);
  // Redraws a second, whatever the event rate (?fps=N): each redraw costs the browser a repaint of
  // the changed canvases, which on a small machine competes with the engine for the same cores.
  const kRenderIntervalMs = 1000 / Math.min(30, Math.max(0.5, Number(query.get('fps')) || 4));
  const kContrastIntervalMs = 1000;   // auto contrast is recomputed at most this often per map
  const kContrastTolerance = 0.03;    // and repaints the whole map only when it moved this much
  const kHistoryPoints = 600;
  const kGraphSeconds = 120;
  const kNaNColour = 0xff1e1a1a;      // ABGR (little-endian RGBA): dark grey for "no result yet"
  const kDetectorColours = ['#4fc3f7', '#ffb74d', '#81c784', '#e57373', '#ba68c8', '#fff176'];
  const kDropColours = ['#e57373', '#ffb74d', '#fff176', '#81c784', '#4fc3f7', '#ba68c8',
                        '#f06292', '#a1887f', '#90a4ae', '#ffffff', '#aed581', '#7986cb'];

  const state = { seq: -1, epoch: null, series: null, maps: [], pattern: null, history: [],
                  status: null, hover: null, peaks: null, images: [] };
  const stats = { opens: 0, errors: 0, snapshots: 0, deltas: 0, gaps: 0, resyncs: 0, renders: 0,
                  lastSeq: -1, firstSeq: -1 };

  // ---- colour maps -----------------------------------------------------------------------------
  // Viridis (matplotlib, CC0) as a 6th-degree polynomial fit; "hot" for the diffraction pattern.
  function viridis(t) {
    const c = [[0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
               [0.1050930431085774, 1.404613529898575, 1.384590162594685],
               [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
               [-4.634230498983486, -5.799100973351585, -19.33244095627987],
               [6.228269936347081, 14.17993336680509, 56.69055260068105],
               [4.776384997670288, -13.74514537774601, -65.35303263337234],
               [-5.435455855934631, 4.645852612178535, 26.3124352495832]];
    const out = [0, 0, 0];
    for (let k = 0; k < 3; ++k) {
      let v = 0;
      for (let d = 6; d >= 0; --d) v = v * t + c[d][k];
      out[k] = Math.max(0, Math.min(255, Math.round(v * 255)));
    }
    return out;
  }
  function hot(t) {
    const f = (x) => Math.max(0, Math.min(255, Math.round(x * 255)));
    return [f(3 * t), f(3 * t - 1), f(3 * t - 2)];
  }
  function lut(fn) {
    const table = new Uint32Array(256);
    const css = [];
    for (let i = 0; i < 256; ++i) {
      const [r, g, b] = fn(i / 255);
      table[i] = (0xff << 24) | (b << 16) | (g << 8) | r;
      if (i % 32 === 0 || i === 255) css.push(`rgb(${r},${g},${b})`);
    }
    return { table, gradient: `linear-gradient(to right, ${css.join(',')})` };
  }
  // Blue - white - red for signed quantities around 0 (strain, rotation).
  function diverging(t) {
    const f = (x) => Math.max(0, Math.min(255, Math.round(x)));
    return t < 0.5 ? [f(33 + 2 * t * 222), f(102 + 2 * t * 153), f(172 + 2 * t * 83)]
                   : [f(255 - (2 * t - 1) * 77), f(255 - (2 * t - 1) * 231), f(255 - (2 * t - 1) * 212)];
  }
  const kViridis = lut(viridis);
  const kHot = lut(hot);
  const kDiverging = lut(diverging);

  // ---- decoding ----------------------------------------------------------------------------------
  function bytes(b64) {
    const s = atob(b64);
    const u = new Uint8Array(s.length);
    for (let i = 0; i < s.length; ++i) u[i] = s.charCodeAt(i);
    return u;
  }
  const f32 = (b64) => new Float32Array(bytes(b64).buffer);
  const u32 = (b64) => new Uint32Array(bytes(b64).buffer);

  function fmt(v) {
    if (v === undefined || v === null || Number.isNaN(v)) return '—';
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(4);
    return Number(v.toPrecision(6)).toString();
  }

  // ---- the state ---------------------------------------------------------------------------------
  function setSeries(series, maps, pattern) {
    state.series = series;
    state.pattern = pattern ? decodePattern(pattern) : null;
    state.peaks = null;
    const n = series ? series.scan[0] * series.scan[1] : 0;
    const same = state.maps.length === maps.length &&
                 state.maps.every((m, i) => m.name === maps[i].name && m.data.length === n);
    if (!same) buildMapCards(series, maps);
    maps.forEach((m, i) => {
      const mine = state.maps[i];
      mine.units = m.units;
      if (m.data) mine.data.set(f32(m.data)); else mine.data.fill(NaN);
      mine.contrastAt = 0;
      mine.full = true;
    });
    updateHeader();
    patternDirty = true;
  }

  // ---- the operators' images (live, replaced whole) ---------------------------------------------
  let imagesDirty = false;
  function setImages(list) {
    const box = document.getElementById('images');
    const old = new Map(state.images.map((im) => [im.name, im]));
    state.images = (list || []).map((I) => {
      let im = old.get(I.name);
      if (!im || im.rows !== I.rows || im.cols !== I.cols) {
        if (im) im.card.remove();
        const card = document.createElement('div');
        card.className = 'card map-card';
        card.innerHTML = `<h3></h3><div class="wrap"><canvas></canvas></div>` +
                         `<div class="cbar"></div><div class="range"><span></span><span></span></div>`;
        const canvas = card.querySelector('canvas');
        canvas.width = I.cols;
        canvas.height = I.rows;
        canvas.dataset.name = I.name;
        canvas.style.setProperty('--aspect', `${I.cols} / ${I.rows}`);
        box.appendChild(card);
        const ctx = canvas.getContext('2d');
        const img = ctx.createImageData(I.cols, I.rows);
        im = { name: I.name, rows: I.rows, cols: I.cols, card, canvas, ctx, img,
               px: new Uint32Array(img.data.buffer), range: card.querySelectorAll('.range span') };
      }
      old.delete(I.name);
      Object.assign(im, { units: I.units, space: I.space, diverging: I.diverging, final: I.final,
                          data: f32(I.data) });
      im.card.querySelector('h3').textContent =
          I.name + (I.units ? ` (${I.units})` : '') + (I.final ? '' : ' — live');
      im.card.querySelector('.cbar').style.background =
          (I.diverging ? kDiverging : I.space === 'diffraction' ? kHot : kViridis).gradient;
      return im;
    });
    for (const im of old.values()) im.card.remove();
    document.getElementById('images-title').hidden = state.images.length === 0;
    imagesDirty = true;
  }
  function renderImage(im) {
    const d = im.data, px = im.px;
    let lo, hi, table, f = (v) => v;
    if (im.diverging) {
      // Symmetric around 0: the 99th percentile of |v|, so that one bad frame cannot wash it out.
      const a = [];
      const step = Math.max(1, Math.floor(d.length / 4096));
      for (let i = 0; i < d.length; i += step) if (Number.isFinite(d[i])) a.push(Math.abs(d[i]));
      a.sort((x, y) => x - y);
      const m = a.length ? a[Math.ceil(0.99 * (a.length - 1))] || 1e-12 : 1;
      lo = -m; hi = m; table = kDiverging.table;
    } else if (im.space === 'diffraction') {
      f = (v) => Math.log1p(Math.max(0, v));
      lo = Infinity; hi = -Infinity;
      for (let i = 0; i < d.length; ++i) { const v = f(d[i]); if (v < lo) lo = v; if (v > hi) hi = v; }
      table = kHot.table;
    } else {
      [lo, hi] = contrast(im);
      table = kViridis.table;
    }
    const scale = hi > lo ? 255 / (hi - lo) : 0;
    for (let i = 0; i < d.length; ++i) {
      const v = f(d[i]);
      if (!Number.isFinite(v)) { px[i] = kNaNColour; continue; }
      let t = (v - lo) * scale;
      t = t < 0 ? 0 : t > 255 ? 255 : t;
      px[i] = table[t | 0];
    }
    im.ctx.putImageData(im.img, 0, 0);
    im.range[0].textContent = im.space === 'diffraction' ? 'log' : fmt(lo);
    im.range[1].textContent = im.space === 'diffraction' ? '' : fmt(hi);
  }

  function decodePattern(p) {
    return { rows: p.rows, cols: p.cols, bin: p.bin, frames: p.frames, source: p.source,
             data: f32(p.data) };
  }

  function applySnapshot(s) {
    state.epoch = s.epoch;
    setSeries(s.series, s.maps, s.pattern);
    setImages(s.images);
    state.history = s.history.slice(-kHistoryPoints);
    state.status = s.status;
    state.seq = s.seq;
    stats.snapshots += 1;
    noteSeq(s.seq);
    graphsDirty = true;
    schedule();
  }

  function applyDelta(d) {
    if (d.reset) {
      setSeries(d.reset.series, d.reset.maps, d.reset.pattern);
      setImages(d.reset.images);
    }
    if (d.images) setImages(d.images);
    if (d.pos) {
      const pos = u32(d.pos);
      d.vals.forEach((b64, m) => {
        const map = state.maps[m];
        if (!map) return;
        const v = f32(b64);
        const cols = state.series.scan[1];
        for (let i = 0; i < pos.length; ++i) {
          map.data[pos[i]] = v[i];
          const row = (pos[i] / cols) | 0;
          if (row < map.rowLo) map.rowLo = row;
          if (row > map.rowHi) map.rowHi = row;
        }
      });
    }
    if (d.pattern) { state.pattern = decodePattern(d.pattern); patternDirty = true; }
    if (d.hist) {
      state.history.push(...d.hist);
      if (state.history.length > kHistoryPoints) state.history.splice(0, state.history.length - kHistoryPoints);
      graphsDirty = true;
    }
    state.status = d.status;
    state.seq = d.seq;
    stats.deltas += 1;
    noteSeq(d.seq);
    schedule();
  }

  function noteSeq(seq) {
    if (stats.firstSeq < 0) stats.firstSeq = seq;
    stats.lastSeq = seq;
  }

  // ---- the event stream --------------------------------------------------------------------------
  let source = null;
  function connect(fresh) {
    if (source) source.close();
    const params = new URLSearchParams();
    if (query.get('max_events')) params.set('max_events', query.get('max_events'));
    // A fresh EventSource sends no Last-Event-ID: hand ours over so that the server can resume us.
    if (!fresh && state.epoch && state.seq >= 0) params.set('last_id', `${state.epoch}-${state.seq}`);
    const qs = params.toString();
    source = new EventSource('events' + (qs ? '?' + qs : ''));
    source.onopen = () => { stats.opens += 1; setConn('live', 'live'); };
    source.onerror = () => {
      stats.errors += 1;
      // EventSource retries by itself (after the server's retry: interval) unless it gave up.
      setConn(source.readyState === EventSource.CLOSED ? 'down' : 'wait',
              source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting');
      if (source.readyState === EventSource.CLOSED) setTimeout(() => connect(false), 2000);
    };
    source.addEventListener('snapshot', (e) => {
      try { applySnapshot(JSON.parse(e.data)); } catch (err) { console.error(err); }
    });
    source.addEventListener('delta', (e) => {
      const d = JSON.parse(e.data);
      if (state.seq >= 0 && d.seq <= state.seq) return;  // already applied (e.g. replayed)
      if (d.seq !== state.seq + 1) {
        stats.gaps += 1;
        stats.resyncs += 1;
        connect(true);
        return;
      }
      try { applyDelta(d); } catch (err) { console.error(err); }
    });
  }

  function setConn(cls, text) {
    const el = document.getElementById('conn');
    el.className = 'pill pill-' + cls;
    el.textContent = text;
  }

  function setText(id, text) {
    const el = document.getElementById(id);
    if (el.textContent !== text) el.textContent = text;
  }

  function updateHeader() {
    const s = state.series, st = state.status;
    setText('series', s
      ? `series ${s.id} · scan ${s.scan[0]}×${s.scan[1]} · frames ${s.frame[0]}×${s.frame[1]} ${s.dtype}` +
        (s.detector ? ` · ${s.detector}` : '') + (st ? ` · ${st.state}${st.end ? ' (' + st.end + ')' : ''}` : '')
      : 'waiting for a series');
    const frac = st && st.positions ? st.covered / st.positions : 0;
    const width = (100 * frac).toFixed(1) + '%';
    const bar = document.getElementById('progress-bar');
    if (bar.style.width !== width) bar.style.width = width;
    setText('progress-text', st && st.positions
      ? `${st.covered} / ${st.positions} positions` + (st.skipped ? ` (${st.skipped} not shown live)` : '')
      : '');
    setText('seq', `seq ${state.seq}`);
  }

  // ---- maps --------------------------------------------------------------------------------------
  function buildMapCards(series, maps) {
    const box = document.getElementById('maps');
    box.textContent = '';
    const rows = series ? series.scan[0] : 1, cols = series ? series.scan[1] : 1;
    state.maps = maps.map((m) => {
      const card = document.createElement('div');
      card.className = 'card map-card';
      card.innerHTML = `<h3></h3><div class="wrap"><canvas></canvas><div class="marker"></div></div>` +
                       `<div class="cbar"></div><div class="range"><span></span><span></span></div>`;
      card.querySelector('h3').textContent = m.name + (m.units ? ` (${m.units})` : '');
      const canvas = card.querySelector('canvas');
      canvas.width = cols;
      canvas.height = rows;
      canvas.dataset.name = m.name;
      canvas.style.setProperty('--aspect', `${cols} / ${rows}`);
      card.querySelector('.cbar').style.background = kViridis.gradient;
      box.appendChild(card);
      const ctx = canvas.getContext('2d');
      const img = ctx.createImageData(cols, rows);
      const map = { name: m.name, units: m.units, data: new Float32Array(rows * cols).fill(NaN),
                    canvas, ctx, img, px: new Uint32Array(img.data.buffer), lo: 0, hi: 1,
                    contrastAt: 0, stale: true, full: true, rowLo: Infinity, rowHi: -1,
                    marker: card.querySelector('.marker'), range: card.querySelectorAll('.range span') };
      canvas.addEventListener('mousemove', (e) => hover(map, e));
      return map;
    });
  }

  // 1st and 99th percentile of a strided sample of the finite values: robust to hot pixels, and
  // cheap enough to redo twice a second on a 1000x1000 map.
  function contrast(map) {
    const d = map.data, step = Math.max(1, Math.floor(d.length / 4096));
    const sample = [];
    for (let i = 0; i < d.length; i += step) if (Number.isFinite(d[i])) sample.push(d[i]);
    if (sample.length === 0) return [0, 1];
    sample.sort((a, b) => a - b);
    const lo = sample[Math.floor(0.01 * (sample.length - 1))];
    let hi = sample[Math.ceil(0.99 * (sample.length - 1))];
    if (!(hi > lo)) hi = lo + (Math.abs(lo) > 0 ? Math.abs(lo) * 1e-6 : 1);
    return [lo, hi];
  }

  function renderMap(map, now) {
    const cols = map.canvas.width;
    if (map.full || map.rowHi >= 0) map.stale = true;
    if (map.stale && now - map.contrastAt >= kContrastIntervalMs) {
      const [lo, hi] = contrast(map);
      map.contrastAt = now;
      map.stale = false;
      // Repaint everything only when the contrast really moved; otherwise just the new rows.
      const tol = kContrastTolerance * (map.hi - map.lo);
      if (Math.abs(lo - map.lo) > tol || Math.abs(hi - map.hi) > tol) {
        map.lo = lo; map.hi = hi; map.full = true;
      }
    }
    let r0 = map.rowLo, r1 = map.rowHi;
    if (map.full) { r0 = 0; r1 = map.canvas.height - 1; }
    if (r1 < r0) return false;
    const d = map.data, px = map.px, table = kViridis.table;
    const lo = map.lo, scale = 255 / (map.hi - map.lo);
    for (let i = r0 * cols, end = (r1 + 1) * cols; i < end; ++i) {
      const v = d[i];
      if (v !== v) { px[i] = kNaNColour; continue; }
      let t = (v - lo) * scale;
      t = t < 0 ? 0 : t > 255 ? 255 : t;
      px[i] = table[t | 0];
    }
    map.ctx.putImageData(map.img, 0, 0, 0, r0, cols, r1 - r0 + 1);
    map.range[0].textContent = fmt(map.lo);
    map.range[1].textContent = fmt(map.hi);
    map.full = false; map.rowLo = Infinity; map.rowHi = -1;
    return true;
  }

  // ---- hover: values and peaks of one scan position ----------------------------------------------
  function hover(map, e) {
    const s = state.series;
    if (!s) return;
    const rect = map.canvas.getBoundingClientRect();
    const ry = Math.floor((e.clientX - rect.left) / rect.width * s.scan[1]);
    const rx = Math.floor((e.clientY - rect.top) / rect.height * s.scan[0]);
    if (rx < 0 || ry < 0 || rx >= s.scan[0] || ry >= s.scan[1]) return;
    const i = rx * s.scan[1] + ry;
    if (state.hover && state.hover.i === i) return;
    state.hover = { rx, ry, i };
    fetchPeaks();
    schedule();
  }

  let peaksInFlight = false;
  function fetchPeaks() {
    if (!state.series || !state.series.peaks_operator || !state.hover || peaksInFlight) return;
    const i = state.hover.i;
    peaksInFlight = true;
    fetch(`api/peaks?i=${i}`).then((r) => r.json()).then((p) => {
      state.peaks = p;
      patternDirty = true;
      schedule();
    }).catch(() => {}).finally(() => {
      peaksInFlight = false;
      if (state.hover && state.hover.i !== i) fetchPeaks();  // the cursor moved on meanwhile
    });
  }

  let readoutHtml = '';
  function renderReadout() {
    const el = document.getElementById('readout');
    const h = state.hover, s = state.series;
    if (!h || !s) return;
    let html = `<div>position <b>rx ${h.rx}, ry ${h.ry}</b> (index ${h.i})</div><table>`;
    for (const m of state.maps) {
      html += `<tr><td>${m.name}</td><td class="v">${fmt(m.data[h.i])}</td><td>${m.units || ''}</td></tr>`;
    }
    html += '</table>';
    if (s.peaks_operator) {
      const p = state.peaks;
      html += p && p.i === h.i
        ? (p.status === 'ok' ? `<div>${p.peaks.length} Bragg peaks (${s.peaks_operator})</div>`
                             : `<div>peaks: ${p.status === 'evicted' ? 'no longer kept by the dashboard' : 'none yet'}</div>`)
        : '<div>peaks: loading…</div>';
    }
    if (html === readoutHtml) return;
    el.innerHTML = html;
    readoutHtml = html;
    for (const m of state.maps) {
      const w = m.canvas.clientWidth / s.scan[1], hh = m.canvas.clientHeight / s.scan[0];
      Object.assign(m.marker.style, { display: 'block', left: `${h.ry * w - 1}px`, top: `${h.rx * hh - 1}px`,
                                      width: `${Math.max(3, w + 2)}px`, height: `${Math.max(3, hh + 2)}px` });
    }
  }

  // ---- the diffraction pattern, detectors and peaks ---------------------------------------------
  let patternDirty = true;
  function renderPattern() {
    const canvas = document.getElementById('pattern');
    const overlay = document.getElementById('overlay');
    const p = state.pattern, s = state.series;
    if (p) {
      if (canvas.width !== p.cols || canvas.height !== p.rows) { canvas.width = p.cols; canvas.height = p.rows; }
      const ctx = canvas.getContext('2d');
      const img = ctx.createImageData(p.cols, p.rows);
      const px = new Uint32Array(img.data.buffer);
      // Log scale: diffraction patterns span orders of magnitude between the disks and the background.
      const logs = new Float32Array(p.data.length);
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < p.data.length; ++i) {
        const v = Math.log1p(Math.max(0, p.data[i]));
        logs[i] = v;
        if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
      }
      const scale = hi > lo ? 255 / (hi - lo) : 0;
      for (let i = 0; i < logs.length; ++i) {
        const v = logs[i];
        px[i] = Number.isFinite(v) ? kHot.table[Math.min(255, ((v - lo) * scale) | 0)] : kNaNColour;
      }
      ctx.putImageData(img, 0, 0);
        setText('pattern-source', p.source === 'mean_pattern' ? `(${s && s.mean_operator} operator, all frames)`
                                                            : `(running mean of ${p.frames} sampled frames)`);
    } else {
      setText('pattern-source', '(no frames yet)');
    }
    const o = overlay.getContext('2d');
    o.clearRect(0, 0, overlay.width, overlay.height);
    const legend = document.getElementById('legend');
    const rebuildLegend = legend.dataset.series !== String(s ? s.id : '');
    if (rebuildLegend) { legend.textContent = ''; legend.dataset.series = String(s ? s.id : ''); }
    if (!s) return;
    const bin = p ? p.bin : 1;
    const cols = p ? p.cols : s.frame[1], rows = p ? p.rows : s.frame[0];
    const sx = overlay.width / cols, sy = overlay.height / rows;
    // Detector pixels have their centres at integer (qx = row, qy = column) coordinates.
    const X = (qy) => (qy + 0.5) / bin * sx, Y = (qx) => (qx + 0.5) / bin * sy;
    const nums = (t) => (t || '').split(/[\s,]+/).filter((x) => x !== '').map(Number);
    let colour = 0;
    for (const op of s.operators) {
      const geo = op.params.detector;
      if (!geo || geo === 'none') continue;
      const c = kDetectorColours[colour++ % kDetectorColours.length];
      o.strokeStyle = c; o.fillStyle = c; o.lineWidth = 1.5;
      const [cx, cy] = nums(op.params.center);
      if (geo === 'circle' || geo === 'annulus') {
        const radii = geo === 'circle' ? nums(op.params.radius) : nums(op.params.radii);
        for (const r of radii) {
          o.beginPath();
          o.ellipse(X(cy), Y(cx), r / bin * sx, r / bin * sy, 0, 0, 2 * Math.PI);
          o.stroke();
        }
      } else if (geo === 'point') {
        o.beginPath(); o.arc(X(Math.trunc(cy)), Y(Math.trunc(cx)), 3, 0, 2 * Math.PI); o.fill();
      } else if (geo === 'rectangle') {
        const [x0, x1, y0, y1] = nums(op.params.bounds).map(Math.round);
        o.strokeRect(y0 / bin * sx, x0 / bin * sy, (y1 - y0) / bin * sx, (x1 - x0) / bin * sy);
      }
      if (rebuildLegend) {
        const item = document.createElement('span');
        item.innerHTML = `<i style="background:${c}"></i>`;
        item.append(`${op.name} (${geo})`);
        legend.appendChild(item);
      }
    }
    const pk = state.peaks;
    if (pk && state.hover && pk.i === state.hover.i && pk.peaks.length) {
      const imax = Math.max(...pk.peaks.map((q) => q[2]));
      o.strokeStyle = '#00e5ff'; o.lineWidth = 1.5;
      for (const [qx, qy, inten] of pk.peaks) {
        o.beginPath();
        o.arc(X(qy), Y(qx), 3 + 6 * Math.sqrt(Math.max(0, inten) / (imax || 1)), 0, 2 * Math.PI);
        o.stroke();
      }
    }
  }

  // ---- graphs ------------------------------------------------------------------------------------
  let graphsDirty = true;
  function drawChart(id, lines) {
    const canvas = document.getElementById(id);
    if (canvas.clientWidth > 0 && canvas.width !== canvas.clientWidth) canvas.width = canvas.clientWidth;
    const c = canvas.getContext('2d');
    const W = canvas.width, H = canvas.height, L = 52, B = 18, T = 16;
    c.clearRect(0, 0, W, H);
    const hist = state.history;
    if (hist.length < 2) {
      c.fillStyle = '#8b919c'; c.font = '12px sans-serif'; c.fillText('collecting…', L, H / 2);
      return;
    }
    // The last two minutes, or less while there is less history: a short scan fills the width.
    const tEnd = hist[hist.length - 1][0];
    const tStart = Math.max(tEnd - kGraphSeconds * 1000, hist[0][0]);
    if (!(tEnd > tStart)) return;
    let ymax = 0;
    for (const l of lines) for (const h of hist) if (h[0] >= tStart) ymax = Math.max(ymax, l.get(h));
    ymax = ymax > 0 ? ymax * 1.1 : 1;
    c.strokeStyle = '#2a2e36'; c.fillStyle = '#8b919c'; c.font = '11px sans-serif'; c.lineWidth = 1;
    for (let k = 0; k <= 4; ++k) {
      const y = T + (H - T - B) * (1 - k / 4);
      c.beginPath(); c.moveTo(L, y); c.lineTo(W, y); c.stroke();
      c.fillText(Number((ymax * k / 4).toPrecision(3)).toString(), 2, y + 4);
    }
    c.fillText(`-${Math.round((tEnd - tStart) / 1000)} s`, L, H - 4);
    c.fillText('now', W - 24, H - 4);
    const x = (t) => L + (W - L) * (t - tStart) / (tEnd - tStart);
    const y = (v) => T + (H - T - B) * (1 - v / ymax);
    let lx = L + 4;
    for (const l of lines) {
      c.strokeStyle = l.colour; c.lineWidth = 1.5; c.beginPath();
      let first = true;
      for (const h of hist) {
        if (h[0] < tStart) continue;
        if (first) { c.moveTo(x(h[0]), y(l.get(h))); first = false; } else c.lineTo(x(h[0]), y(l.get(h)));
      }
      c.stroke();
      c.fillStyle = l.colour; c.fillText(l.name, lx, 11); lx += c.measureText(l.name).width + 12;
    }
  }

  function renderGraphs() {
    drawChart('g-rate', [
      { name: 'received', colour: '#4fc3f7', get: (h) => h[1] },
      { name: 'processed', colour: '#81c784', get: (h) => h[2] }]);
    drawChart('g-latency', [
      { name: 'mean', colour: '#ffb74d', get: (h) => 1000 * h[3] },
      { name: 'max', colour: '#e57373', get: (h) => 1000 * h[4] }]);
    const reasons = state.status ? state.status.drop_reasons : [];
    const lines = [];
    reasons.forEach((r, k) => {
      if (state.history.some((h) => h[5][k] > 0)) {
        lines.push({ name: r, colour: kDropColours[k % kDropColours.length], get: (h) => h[5][k] });
      }
    });
    if (lines.length === 0) lines.push({ name: 'no drops', colour: '#81c784', get: () => 0 });
    drawChart('g-drops', lines);
  }

  // ---- the render loop -----------------------------------------------------------------------------
  let scheduled = false, lastRender = 0;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setTimeout(render, Math.max(0, kRenderIntervalMs - (performance.now() - lastRender)));
  }
  function render() {
    scheduled = false;
    const now = performance.now();
    lastRender = now;
    let again = false;
    for (const m of state.maps) {
      renderMap(m, now);
      // New values whose contrast was not recomputed yet (it waits for its interval): come back.
      if (m.stale) again = true;
    }
    if (patternDirty) { renderPattern(); patternDirty = false; }
    if (imagesDirty) { state.images.forEach(renderImage); imagesDirty = false; }
    if (graphsDirty) { renderGraphs(); graphsDirty = false; }
    updateHeader();
    renderReadout();
    stats.renders += 1;
    if (again) schedule();
  }

  // ---- what tests and curious users can ask the page ---------------------------------------------
  // Pixel statistics of a map's canvas: how many pixels carry a value colour (not the "no result"
  // grey, not transparent), how many distinct colours, and a hash that changes when the image does.
  function canvasStats(name) {
    const m = state.maps.find((x) => x.name === name) || state.maps[0];
    if (!m) return null;
    const d = m.ctx.getImageData(0, 0, m.canvas.width, m.canvas.height).data;
    const px = new Uint32Array(d.buffer);
    let coloured = 0, hash = 2166136261;
    const distinct = new Set();
    for (let i = 0; i < px.length; ++i) {
      const v = px[i];
      if ((v >>> 24) !== 0 && v !== kNaNColour) coloured += 1;
      if (distinct.size < 4096) distinct.add(v);
      hash = Math.imul(hash ^ v, 16777619) >>> 0;
    }
    return { name: m.name, width: m.canvas.width, height: m.canvas.height, pixels: px.length,
             coloured, distinct: distinct.size, hash };
  }
  window.stemflowDash = { state, stats, canvasStats, reconnect: () => connect(false) };

  connect(false);
})();
