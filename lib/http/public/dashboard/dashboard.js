// express-otp-kit dashboard: fetches the router's JSON (insights, holds, provider health) from the
// page's own origin; charts.js draws the inline SVG. No library, no other host, no inline code
// (strict CSP); server text is only set with textContent. The admin token, when the app asks for
// one (401), is kept in sessionStorage and sent as `Authorization: Bearer`.

import { count, clear, drawBars, drawRefusals, drawTimeline, el, emptyNote, fillTable, keyLabel, money, rate, seconds, sum, until, widthOf } from './charts.js';

const TOKEN_KEY = 'express-otp-kit.admin-token';
const TOP = 10;
const LOW_CONVERSION = 0.5;

const state = { period: '7d', range: null, groupBy: ['country', 'provider'], reports: {}, holds: [], health: null };

function byId(id) {
  return document.getElementById(id);
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
    drawTimeline(byId('chart-time'), byId('table-time'), reports.time, timeDimension());
    drawRefusals(byId('chart-refusals'), byId('table-refusals'), reports.time.totals);
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
