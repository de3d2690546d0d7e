/**
 * The dashboard's single page: small-multiple uPlot charts (one per metric, grouped by prefix:
 * `reward/`, `train/`, `spec_decode/` …) and a table of the latest step. It reads
 * `/metrics/stream` (Server-Sent Events: the history first, then live steps) and needs no build
 * step; uPlot is served from the installed package.
 */
export function dashboardPage(title: string): string {
  const esc = title.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>specstream — ${esc}</title>
<link rel="stylesheet" href="/assets/uPlot.min.css">
<style>
 body{font:14px system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
 h1{font-size:18px;margin:0 0 4px} #status{color:#666;margin-bottom:12px}
 .group{margin:12px 0} .group h2{font-size:15px;margin:6px 0;color:#444}
 .charts{display:flex;flex-wrap:wrap;gap:8px} .chart{background:#fff;border:1px solid #ddd;padding:4px}
 table{border-collapse:collapse;background:#fff} td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}
 td:first-child,th:first-child{text-align:left}
</style></head>
<body>
<h1>specstream — ${esc}</h1>
<div id="status">connecting…</div>
<div id="groups"></div>
<h2 style="font-size:15px">Latest step</h2>
<table id="latest"><thead><tr><th>metric</th><th>value</th></tr></thead><tbody></tbody></table>
<script src="/assets/uPlot.iife.min.js"></script>
<script>
const rows = [];
const charts = new Map();
const statusEl = document.getElementById('status');
function groupOf(key){ const i = key.indexOf('/'); return i < 0 ? 'other' : key.slice(0, i); }
function ensureChart(key){
  if (charts.has(key)) return charts.get(key);
  const g = groupOf(key);
  let box = document.querySelector('[data-group="' + g + '"] .charts');
  if (!box) {
    const sec = document.createElement('div'); sec.className = 'group'; sec.dataset.group = g;
    sec.innerHTML = '<h2>' + g + '</h2><div class="charts"></div>';
    document.getElementById('groups').appendChild(sec); box = sec.querySelector('.charts');
  }
  const el = document.createElement('div'); el.className = 'chart'; el.dataset.metric = key; box.appendChild(el);
  const plot = new uPlot({ title: key, width: 320, height: 180, scales: { x: { time: false } },
    series: [{ label: 'step' }, { label: key, stroke: '#2463eb', width: 2, points: { show: true } }] }, [[], []], el);
  charts.set(key, plot); return plot;
}
function render(){
  const keys = new Set(); rows.forEach(r => Object.keys(r).forEach(k => k !== 'step' && typeof r[k] === 'number' && keys.add(k)));
  for (const k of keys) {
    const pts = rows.filter(r => typeof r[k] === 'number');
    ensureChart(k).setData([pts.map(r => r.step), pts.map(r => r[k])]);
  }
  const last = rows[rows.length - 1]; const body = document.querySelector('#latest tbody'); body.innerHTML = '';
  if (last) for (const [k, v] of Object.entries(last)) {
    const tr = document.createElement('tr'); tr.dataset.metric = k;
    tr.innerHTML = '<td>' + k + '</td><td>' + (typeof v === 'number' ? +v.toPrecision(6) : v) + '</td>'; body.appendChild(tr);
  }
}
const es = new EventSource('/metrics/stream');
es.addEventListener('metrics', (m) => { rows.push(JSON.parse(m.data)); render(); statusEl.textContent = 'live · ' + rows.length + ' steps'; document.body.dataset.steps = rows.length; });
es.addEventListener('done', () => { statusEl.textContent = 'finished · ' + rows.length + ' steps'; document.body.dataset.done = 'true'; es.close(); });
es.onerror = () => { if (document.body.dataset.done !== 'true') statusEl.textContent = 'disconnected (retrying)…'; };
</script></body></html>`;
}
