// express-otp-kit dashboard, part 2 of 2: formatting, DOM and inline-SVG drawing helpers used by
// dashboard.js. Plain ES module, no library; text is only ever set with textContent.

const SVG = 'http://www.w3.org/2000/svg';
export const REASONS = [['limit', 'Rate limits'], ['policy', 'Destination policy'], ['breaker', 'Conversion breaker'], ['challenge', 'Bot challenge']];
export const count = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const percent = new Intl.NumberFormat('en', { style: 'percent', maximumFractionDigits: 0 });

export function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

export function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs ?? {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

export function money(value, currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency, maximumFractionDigits: value >= 100 ? 0 : 2 }).format(value);
  } catch {
    return `${value.toFixed(2)} ${currency}`;
  }
}

export function rate(value) {
  return value === null || value === undefined ? '–' : percent.format(value);
}

export function seconds(value) {
  if (value === null || value === undefined) return '–';
  if (value < 90) return `${Math.round(value)} s`;
  return `${Math.round(value / 60)} min`;
}

export function sum(counts) {
  return REASONS.reduce((total, [reason]) => total + (counts?.[reason] ?? 0), 0);
}

export function keyLabel(key) {
  const parts = [];
  for (const [dimension, value] of Object.entries(key)) parts.push(dimension === 'country' && value === 'ZZ' ? 'unknown' : value);
  return parts.join(' · ') || 'all';
}

/** Every day or hour bucket of the range, so that quiet buckets show as zero. */
export function buckets(report, dimension) {
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

export function bucketLabel(bucket, dimension) {
  const date = new Date(dimension === 'hour' ? bucket.replace(':00Z', ':00:00Z') : `${bucket}T00:00:00Z`);
  if (dimension === 'hour') return `${String(date.getUTCHours()).padStart(2, '0')}:00`;
  return date.toLocaleDateString('en', { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function widthOf(node) {
  return Math.max(260, Math.floor(node.clientWidth || node.parentElement?.clientWidth || 600));
}

export function emptyNote(node, text) {
  clear(node).appendChild(el('p', { class: 'empty' }, text));
}

export function fillTable(table, head, rows) {
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
export function drawTimeline(node, table, report, dimension) {
  const byKey = new Map(report.groups.map((g) => [g.key[dimension], g]));
  const points = buckets(report, dimension).map((b) => ({ bucket: b, requests: byKey.get(b)?.requests ?? 0, verified: byKey.get(b)?.verified ?? 0 }));
  fillTable(table, [dimension === 'hour' ? 'Hour (UTC)' : 'Day (UTC)', 'Requests', 'Verified', 'Conversion'], points.map((p) => [p.bucket, count.format(p.requests), count.format(p.verified), rate(p.requests === 0 ? null : p.verified / p.requests)]));
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

export function niceMax(max) {
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * magnitude >= max) return m * magnitude;
  return 10 * magnitude;
}

/**
 * Horizontal bars, one row per item: `value` in 0..1 of the track (or of the largest value), a
 * name on the left and a figure on the right.
 */
export function drawBars(node, items, label) {
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

export function shorten(text, max) {
  return text.length > max ? `${text.slice(0, Math.max(1, max - 1))}…` : text;
}

/** Refused and would-be refused (monitor mode) side by side, per reason. */
export function drawRefusals(node, table, totals) {
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
  fillTable(table, ['Reason', 'Refused', 'Would refuse (monitor)'], REASONS.map(([r, name]) => [name, count.format(totals.refusals[r]), count.format(totals.monitored[r])]));
}

/** Time left until an ISO date, in words. */
export function until(iso) {
  const minutes = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 60000));
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 48 * 60) return `${Math.round(minutes / 60)} h`;
  return `${Math.round(minutes / 1440)} days`;
}
