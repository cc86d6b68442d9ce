// express-otp-kit dashboard: fetches the router's JSON (insights, holds, provider health) from the
// page's own origin and draws inline SVG. No library, no other host, no inline code (strict CSP).
// Text from the server is only ever set with textContent. The admin token, when the app asks for
// one (401), is kept in sessionStorage and sent as `Authorization: Bearer`.

const SVG = 'http://www.w3.org/2000/svg';
const TOKEN_KEY = 'express-otp-kit.admin-token';
const REASONS = [['limit', 'Rate limits'], ['policy', 'Destination policy'], ['breaker', 'Conversion breaker'], ['challenge', 'Bot challenge']];
const TOP = 10;
const LOW_CONVERSION = 0.5;
const count = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const percent = new Intl.NumberFormat('en', { style: 'percent', maximumFractionDigits: 0 });

const state = { period: '7d', range: null, groupBy: ['country', 'provider'], reports: {}, holds: [], health: null };

function byId(id) {
  return document.getElementById(id);
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs ?? {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function money(value, currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency, maximumFractionDigits: value >= 100 ? 0 : 2 }).format(value);
  } catch {
    return `${value.toFixed(2)} ${currency}`;
  }
}

function rate(value) {
  return value === null || value === undefined ? '–' : percent.format(value);
}

function seconds(value) {
  if (value === null || value === undefined) return '–';
  if (value < 90) return `${Math.round(value)} s`;
  return `${Math.round(value / 60)} min`;
}

function sum(counts) {
  return REASONS.reduce((total, [reason]) => total + (counts?.[reason] ?? 0), 0);
}

function keyLabel(key) {
  const parts = [];
  for (const [dimension, value] of Object.entries(key)) parts.push(dimension === 'country' && value === 'ZZ' ? 'unknown' : value);
  return parts.join(' · ') || 'all';
}

function headers() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Accept: 'application/json', Authorization: `Bearer ${token}` } : { Accept: 'application/json' };
}

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function getJson(path) {
  const res = await fetch(path, { headers: headers(), cache: 'no-store', credentials: 'same-origin' });
  if (res.ok) return res.json();
  let code = `HTTP_${res.status}`;
  let message = res.statusText;
  try {
    const body = await res.json();
    code = body?.error?.code ?? code;
    message = body?.error?.message ?? message;
  } catch {
    // Not JSON: keep the status line.
  }
  throw new HttpError(res.status, code, message);
}

const PERIODS = { '24h': ['hour', 24], '7d': ['day', 7], '30d': ['day', 30] };

/**
 * The range of the period in whole buckets: the last 24 hours or the last 7 or 30 calendar days
 * (UTC), the current one included, so that no bucket of the chart but the current one is partial.
 */
function range() {
  const [unit, n] = PERIODS[state.period] ?? PERIODS['7d'];
  const step = unit === 'hour' ? 3_600_000 : 86_400_000;
  const now = Date.now();
  const from = Math.floor(now / step) * step - (n - 1) * step;
  return { from: new Date(from).toISOString(), to: new Date(now).toISOString() };
}

function insightsPath(groupBy) {
  const { from, to } = state.range;
  return `insights?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&groupBy=${encodeURIComponent(groupBy.join(','))}`;
}

function timeDimension() {
  return state.period === '24h' ? 'hour' : 'day';
}

/** Every day or hour bucket of the range, so that quiet buckets show as zero. */
function buckets(report, dimension) {
  const step = dimension === 'hour' ? 3_600_000 : 86_400_000;
  const out = [];
  let t = Math.floor(Date.parse(report.from) / step) * step;
  const end = Date.parse(report.to);
  while (t < end && out.length < 1000) {
    const iso = new Date(t).toISOString();
    out.push(dimension === 'hour' ? `${iso.slice(0, 13)}:00Z` : iso.slice(0, 10));
    t += step;
  }
  return out;
}

function bucketLabel(bucket, dimension) {
  const date = new Date(dimension === 'hour' ? bucket.replace(':00Z', ':00:00Z') : `${bucket}T00:00:00Z`);
  if (dimension === 'hour') return `${String(date.getUTCHours()).padStart(2, '0')}:00`;
  return date.toLocaleDateString('en', { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

function widthOf(node) {
  return Math.max(260, Math.floor(node.clientWidth || node.parentElement?.clientWidth || 600));
}

function emptyNote(node, text) {
  clear(node).appendChild(el('p', { class: 'empty' }, text));
}

function fillTable(table, head, rows) {
  clear(table);
  const tr = el('tr');
  head.forEach((title, i) => tr.appendChild(el('th', { scope: 'col', class: i === 0 ? '' : 'num' }, title)));
  table.appendChild(el('thead')).appendChild(tr);
  const body = table.appendChild(el('tbody'));
  for (const row of rows) {
    const line = body.appendChild(el('tr'));
    row.forEach((cell, i) => {
      const td = line.appendChild(el(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row' } : { class: 'num' }, cell.text ?? cell));
      if (cell.bad) td.classList.add('bad');
    });
  }
}

/** Over time: requests and verified per bucket, as two areas with lines. */
function drawTimeline(report) {
  const node = byId('chart-time');
  const dimension = timeDimension();
  const byKey = new Map(report.groups.map((g) => [g.key[dimension], g]));
  const points = buckets(report, dimension).map((b) => ({ bucket: b, requests: byKey.get(b)?.requests ?? 0, verified: byKey.get(b)?.verified ?? 0 }));
  fillTable(byId('table-time'), [dimension === 'hour' ? 'Hour (UTC)' : 'Day (UTC)', 'Requests', 'Verified', 'Conversion'], points.map((p) => [p.bucket, count.format(p.requests), count.format(p.verified), rate(p.requests === 0 ? null : p.verified / p.requests)]));
  if (points.length === 0) return emptyNote(node, 'No data in this period.');
  const width = widthOf(node);
  const height = width < 500 ? 190 : 230;
  const pad = { left: 44, right: 12, top: 12, bottom: 26 };
  const max = Math.max(1, ...points.map((p) => p.requests));
  const nice = niceMax(max);
  const x = (i) => pad.left + (points.length === 1 ? 0.5 : i / (points.length - 1)) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - v / nice) * (height - pad.top - pad.bottom);
  const total = points.reduce((a, p) => a + p.requests, 0);
  const verified = points.reduce((a, p) => a + p.verified, 0);
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': `Requests and verifications per ${dimension}: ${count.format(total)} requests, ${count.format(verified)} verified` });
  for (const v of [0, nice / 2, nice]) {
    svg.appendChild(svgEl('line', { class: 'grid-line', x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }));
    svg.appendChild(svgEl('text', { class: 'muted value', x: pad.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, count.format(v)));
  }
  for (const series of ['requests', 'verified']) {
    const at = (p, i) => `${x(i).toFixed(1)},${y(p[series]).toFixed(1)}`;
    const line = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${at(p, i)}`).join(' ');
    const area = `${line} L${x(points.length - 1).toFixed(1)},${y(0)} L${x(0).toFixed(1)},${y(0)} Z`;
    svg.appendChild(svgEl('path', { class: `area ${series}`, d: area }));
    // The current bucket is still filling: its segment is dashed.
    const done = points.length > 1 ? points.slice(0, -1) : points;
    svg.appendChild(svgEl('path', { class: `line ${series}`, d: done.map((p, i) => `${i === 0 ? 'M' : 'L'}${at(p, i)}`).join(' '), 'data-series': series }));
    if (points.length > 1) {
      const n = points.length - 1;
      svg.appendChild(svgEl('path', { class: `line partial ${series}`, d: `M${at(points[n - 1], n - 1)} L${at(points[n], n)}` }));
    }
    if (points.length <= 31) points.forEach((p, i) => svg.appendChild(svgEl('circle', { class: `dot ${series}`, cx: x(i), cy: y(p[series]), r: 2.6 })));
  }
  const labels = Math.max(2, Math.min(points.length, Math.floor((width - pad.left) / 70)));
  const stepEvery = Math.max(1, Math.ceil((points.length - 1) / (labels - 1)));
  points.forEach((p, i) => {
    if (i % stepEvery !== 0 && i !== points.length - 1) return;
    if (i !== points.length - 1 && points.length - 1 - i < stepEvery / 2) return;
    const anchor = i === 0 ? 'start' : i === points.length - 1 ? 'end' : 'middle';
    const text = i === points.length - 1 ? (dimension === 'hour' ? 'now' : 'today') : bucketLabel(p.bucket, dimension);
    svg.appendChild(svgEl('text', { class: 'muted axis-label', x: x(i), y: height - 6, 'text-anchor': anchor }, text));
  });
  clear(node).appendChild(svg);
}

function niceMax(max) {
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * magnitude >= max) return m * magnitude;
  return 10 * magnitude;
}

/**
 * Horizontal bars, one row per item: `value` in 0..1 of the track (or of the largest value), a
 * name on the left and a figure on the right.
 */
function drawBars(node, items, label) {
  if (items.length === 0) return emptyNote(node, 'No data in this period.');
  const width = widthOf(node);
  const row = 30;
  const nameWidth = Math.min(130, Math.max(60, Math.floor(width * 0.22)));
  const figureWidth = width < 420 ? 104 : 150;
  const barWidth = width - nameWidth - figureWidth - 12;
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${items.length * row}`, width, height: items.length * row, role: 'img', 'aria-label': label });
  items.forEach((item, i) => {
    const top = i * row;
    const g = svg.appendChild(svgEl('g', { class: 'bar-row' }));
    g.appendChild(svgEl('title', {}, `${item.name}: ${item.figure}`));
    g.appendChild(svgEl('text', { x: 0, y: top + 19, class: 'bar-name' }, shorten(item.name, Math.floor(nameWidth / 7.5))));
    g.appendChild(svgEl('rect', { class: 'track', x: nameWidth, y: top + 6, width: barWidth, height: 16, rx: 3 }));
    g.appendChild(svgEl('rect', { class: `bar ${item.kind ?? ''}`, x: nameWidth, y: top + 6, width: Math.max(item.value > 0 ? 2 : 0, item.value * barWidth), height: 16, rx: 3 }));
    g.appendChild(svgEl('text', { x: width, y: top + 19, 'text-anchor': 'end', class: `value ${item.kind === 'low' ? 'bad' : ''}` }, item.figure));
  });
  clear(node).appendChild(svg);
}

function shorten(text, max) {
  return text.length > max ? `${text.slice(0, Math.max(1, max - 1))}…` : text;
}

function conversionChart(report, dimension, chartId, tableId) {
  // Groups with refusals only (no request, so no conversion) are left out here.
  const groups = report.groups.filter((g) => g.requests > 0).sort((a, b) => b.requests - a.requests || keyLabel(a.key).localeCompare(keyLabel(b.key)));
  const shown = groups.slice(0, TOP);
  const narrow = widthOf(byId(chartId)) < 420;
  const items = shown.map((g) => {
    const low = g.conversionRate !== null && g.conversionRate < LOW_CONVERSION && g.requests >= 10;
    return {
      name: keyLabel(g.key),
      value: g.conversionRate ?? 0,
      kind: low ? 'low' : '',
      figure: `${rate(g.conversionRate)} of ${count.format(g.requests)}${narrow ? '' : ' requests'}`,
    };
  });
  const label = `Conversion by ${dimension}: ${items.map((i) => `${i.name} ${i.figure}`).join('; ')}`;
  drawBars(byId(chartId), items, label || `Conversion by ${dimension}: no data`);
  fillTable(byId(tableId), [dimension === 'country' ? 'Country' : 'Provider', 'Requests', 'Delivered', 'Verified', 'Conversion', 'Median'], groups.map((g) => [
    keyLabel(g.key),
    count.format(g.requests),
    count.format(g.delivered),
    count.format(g.verified),
    { text: rate(g.conversionRate), bad: g.conversionRate !== null && g.conversionRate < LOW_CONVERSION && g.requests >= 10 },
    seconds(g.verifySeconds?.median),
  ]));
}

/** Refused and would-be refused (monitor mode) side by side, per reason. */
function drawRefusals(totals) {
  const node = byId('chart-refusals');
  const width = widthOf(node);
  const max = Math.max(1, ...REASONS.flatMap(([r]) => [totals.refusals[r], totals.monitored[r]]));
  // Narrow screens: the reason above its two bars, so that no name is cut.
  const stacked = width < 480;
  const nameWidth = stacked ? 0 : Math.min(150, Math.floor(width * 0.34));
  const figureWidth = 56;
  const barWidth = width - nameWidth - figureWidth - 8;
  const head = stacked ? 18 : 0;
  const row = 44 + head;
  const svg = svgEl('svg', {
    viewBox: `0 0 ${width} ${REASONS.length * row}`, width, height: REASONS.length * row, role: 'img',
    'aria-label': `Refusals by reason: ${REASONS.map(([r, name]) => `${name} ${totals.refusals[r]} refused, ${totals.monitored[r]} would refuse`).join('; ')}`,
  });
  REASONS.forEach(([reason, name], i) => {
    const top = i * row;
    svg.appendChild(svgEl('text', { x: 0, y: stacked ? top + 13 : top + 25, class: 'bar-name' }, stacked ? name : shorten(name, Math.floor(nameWidth / 7))));
    [['refused', totals.refusals[reason]], ['monitored', totals.monitored[reason]]].forEach(([kind, value], j) => {
      const y = top + head + 5 + j * 17;
      svg.appendChild(svgEl('rect', { class: 'track', x: nameWidth, y, width: barWidth, height: 14, rx: 3 }));
      svg.appendChild(svgEl('rect', { class: `bar ${kind}`, x: nameWidth, y, width: value > 0 ? Math.max(2, (value / max) * barWidth) : 0, height: 14, rx: 3 }));
      svg.appendChild(svgEl('text', { x: width, y: y + 11.5, 'text-anchor': 'end', class: 'value' }, count.format(value)));
    });
  });
  clear(node).appendChild(svg);
  fillTable(byId('table-refusals'), ['Reason', 'Refused', 'Would refuse (monitor)'], REASONS.map(([r, name]) => [name, count.format(totals.refusals[r]), count.format(totals.monitored[r])]));
}

function drawCost(report) {
  const groups = [...report.groups].sort((a, b) => b.estimatedCost - a.estimatedCost).filter((g) => g.estimatedCost > 0);
  const max = Math.max(...groups.map((g) => g.estimatedCost), 0);
  byId('cost-currency').textContent = report.currency;
  const items = groups.slice(0, TOP).map((g) => ({ name: keyLabel(g.key), value: max === 0 ? 0 : g.estimatedCost / max, kind: 'cost', figure: money(g.estimatedCost, report.currency) }));
  drawBars(byId('chart-cost'), items, `Estimated cost by country: ${items.map((i) => `${i.name} ${i.figure}`).join('; ')}`);
  fillTable(byId('table-cost'), ['Country', 'Requests', 'Estimated cost', 'Per verified'], groups.map((g) => [
    keyLabel(g.key),
    count.format(g.requests),
    money(g.estimatedCost, report.currency),
    g.verified === 0 ? '–' : money(g.estimatedCost / g.verified, report.currency),
  ]));
}

function drawKpis(report) {
  const t = report.totals;
  byId('kpi-requests').textContent = count.format(t.requests);
  byId('kpi-delivered').textContent = `${count.format(t.delivered)} delivered · ${count.format(t.failed)} failed`;
  byId('kpi-verified').textContent = count.format(t.verified);
  const conversion = byId('kpi-conversion');
  conversion.textContent = `${rate(t.conversionRate)} conversion`;
  conversion.classList.toggle('bad', t.conversionRate !== null && t.conversionRate < LOW_CONVERSION);
  byId('kpi-median').textContent = seconds(t.verifySeconds?.median);
  byId('kpi-p90').textContent = `median · p90 ${seconds(t.verifySeconds?.p90)}`;
  byId('kpi-refused').textContent = count.format(sum(t.refusals));
  byId('kpi-monitored').textContent = `${count.format(sum(t.monitored))} more in monitor mode`;
  byId('kpi-cost').textContent = money(t.estimatedCost, report.currency);
  byId('kpi-cost-note').textContent = t.verified === 0 ? 'estimated' : `${money(t.estimatedCost / t.verified, report.currency)} per verified`;
}

function drawRange() {
  const format = { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'UTC' };
  const { from, to } = state.range;
  byId('range-text').textContent = `${new Date(from).toLocaleString('en', format)} – ${new Date(to).toLocaleString('en', format)} UTC`;
}

function drawBreakdown(report) {
  const dims = report.groupBy;
  const groups = [...report.groups].sort((a, b) => b.requests - a.requests);
  const head = [dims.length === 0 ? 'All' : dims.join(' · '), 'Requests', 'Delivered', 'Verified', 'Conversion', 'Failed', 'Expired', 'Max tries', 'Refused', 'Monitor', 'Median', 'p90', 'Cost'];
  const rows = (groups.length === 0 ? [] : groups).map((g) => [
    keyLabel(g.key),
    count.format(g.requests),
    count.format(g.delivered),
    count.format(g.verified),
    { text: rate(g.conversionRate), bad: g.conversionRate !== null && g.conversionRate < LOW_CONVERSION && g.requests >= 10 },
    count.format(g.failed),
    count.format(g.expired),
    count.format(g.maxAttempts),
    count.format(sum(g.refusals)),
    count.format(sum(g.monitored)),
    seconds(g.verifySeconds?.median),
    seconds(g.verifySeconds?.p90),
    money(g.estimatedCost, report.currency),
  ]);
  fillTable(byId('table-breakdown'), head, rows.length > 0 ? rows : [['No data in this period.', '', '', '', '', '', '', '', '', '', '', '', '']]);
}

function until(iso) {
  const minutes = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 60000));
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 48 * 60) return `${Math.round(minutes / 60)} h`;
  return `${Math.round(minutes / 1440)} days`;
}

function drawHolds(holds) {
  for (const kind of ['range', 'number']) {
    const list = clear(byId(`holds-${kind}`));
    const mine = holds.filter((h) => h.kind === kind);
    if (mine.length === 0) list.appendChild(el('li', { class: 'none' }, kind === 'range' ? 'No range is held.' : 'No number is locked.'));
    for (const hold of mine) {
      const li = list.appendChild(el('li'));
      li.appendChild(el('span', { class: `pill ${kind}` }, kind === 'range' ? 'held' : 'locked'));
      li.appendChild(el('span', { class: 'target' }, hold.target));
      li.appendChild(el('span', { class: 'hint' }, `for ${until(hold.until)} more`));
      li.appendChild(el('span', { class: 'detail' }, `${hold.reason} · since ${new Date(hold.since).toLocaleString('en', { timeZone: 'UTC', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })} UTC`));
    }
  }
}

function drawHealth(health) {
  const list = clear(byId('health'));
  byId('health-since').textContent = health.trackingSince ? 'seen by this process' : '';
  if (health.routingError) list.appendChild(el('li', { class: 'none' }, `Routing problem: ${health.routingError}`));
  if (health.providers.length === 0) list.appendChild(el('li', { class: 'none' }, 'No provider call seen yet.'));
  for (const p of health.providers) {
    const li = list.appendChild(el('li'));
    li.appendChild(el('span', { class: `pill ${p.status}` }, p.status));
    li.appendChild(el('span', { class: 'target' }, p.provider));
    const parts = [p.recentCalls === 0 ? 'no calls yet' : `${count.format(p.recentCalls - p.recentFailures)} of ${count.format(p.recentCalls)} recent calls ok`];
    if (p.lastLatencyMs !== null) parts.push(`last ${count.format(p.lastLatencyMs)} ms`);
    li.appendChild(el('span', { class: 'hint' }, parts.join(' · ')));
    if (p.lastError) li.appendChild(el('span', { class: 'detail' }, `Last error (${p.lastError.kind}): ${p.lastError.message ?? p.lastError.providerCode ?? 'no message'}`));
  }
}

function showError(error) {
  const box = byId('error');
  box.hidden = false;
  box.textContent = error.code === 'NOT_CONFIGURED'
    ? 'Insights are not available from this service (it has no insights()). Holds and provider health are shown below.'
    : `Could not load the figures: ${error.message} (${error.code ?? 'network error'}).`;
}

function showLogin(message) {
  byId('main').classList.add('locked');
  byId('login').hidden = false;
  byId('range-text').textContent = 'Enter the admin token to see the figures.';
  byId('login-msg').textContent = message;
  byId('token').focus();
}

/** A chart whose figures could not be loaded says so instead of keeping old bars. */
function unavailable(...ids) {
  for (const id of ids) emptyNote(byId(id), 'Not available.');
}

function redraw() {
  const { reports } = state;
  if (reports.time) {
    drawKpis(reports.time);
    drawTimeline(reports.time);
    drawRefusals(reports.time.totals);
  } else {
    unavailable('chart-time', 'chart-refusals');
    for (const id of ['requests', 'verified', 'median', 'refused', 'cost']) byId(`kpi-${id}`).textContent = '–';
  }
  if (reports.country) {
    conversionChart(reports.country, 'country', 'chart-country', 'table-country');
    drawCost(reports.country);
  } else unavailable('chart-country', 'chart-cost');
  if (reports.provider) conversionChart(reports.provider, 'provider', 'chart-provider', 'table-provider');
  else unavailable('chart-provider');
  if (reports.breakdown) drawBreakdown(reports.breakdown);
  drawHolds(state.holds);
  if (state.health) drawHealth(state.health);
}

async function load() {
  const main = byId('main');
  main.setAttribute('aria-busy', 'true');
  byId('error').hidden = true;
  state.range = range();
  const wanted = { time: [timeDimension()], country: ['country'], provider: ['provider'], breakdown: state.groupBy };
  const names = Object.keys(wanted);
  const results = await Promise.allSettled([...names.map((n) => getJson(insightsPath(wanted[n]))), getJson('holds'), getJson('provider-health')]);
  const failures = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
  if (failures.some((e) => e instanceof HttpError && (e.status === 401 || e.status === 403))) {
    const hadToken = sessionStorage.getItem(TOKEN_KEY) !== null;
    sessionStorage.removeItem(TOKEN_KEY);
    main.setAttribute('aria-busy', 'false');
    showLogin(hadToken ? 'That token was refused. Try again.' : '');
    return;
  }
  byId('main').classList.remove('locked');
  byId('login').hidden = true;
  state.reports = {};
  names.forEach((n, i) => { if (results[i].status === 'fulfilled') state.reports[n] = results[i].value; });
  const holds = results[names.length];
  const health = results[names.length + 1];
  state.holds = holds.status === 'fulfilled' ? holds.value : [];
  state.health = health.status === 'fulfilled' ? health.value : null;
  if (failures.length > 0) showError(failures[0]);
  drawRange();
  redraw();
  byId('updated').textContent = `· updated ${new Date().toLocaleTimeString('en', { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })}`;
  main.setAttribute('aria-busy', 'false');
}

function onLogin(event) {
  event.preventDefault();
  const token = byId('token').value.trim();
  if (token === '') return;
  sessionStorage.setItem(TOKEN_KEY, token);
  byId('token').value = '';
  void load();
}

function onPeriod(event) {
  if (event.target.name !== 'period') return;
  state.period = event.target.value;
  void load();
}

function onGroupBy() {
  state.groupBy = [...document.querySelectorAll('#group-by input:checked')].map((input) => input.value);
  void getJson(insightsPath(state.groupBy)).then((report) => {
    state.reports.breakdown = report;
    drawBreakdown(report);
  }, showError);
}

let resizeTimer;
function onResize() {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(redraw, 150);
}

function start() {
  byId('controls').addEventListener('change', onPeriod);
  byId('controls').addEventListener('submit', (event) => event.preventDefault());
  byId('refresh').addEventListener('click', () => void load());
  byId('group-by').addEventListener('change', onGroupBy);
  byId('login').addEventListener('submit', onLogin);
  window.addEventListener('resize', onResize);
  void load();
}

start();
