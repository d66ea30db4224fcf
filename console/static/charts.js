// The console's pictures, drawn as SVG by hand: three small charts do not justify a charting
// library and the build step it would bring (the console ships as plain files).

const NS = 'http://www.w3.org/2000/svg';

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(width, height, label) {
  return el('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': label });
}

/**
 * An incident's milestones on a time axis from detection, with the notification deadline as a red
 * line: `milestones` [{label, at (ms)}], `deadline` ms or null, `format` (ms → text).
 */
export function incidentChart(milestones, deadline, format, labels) {
  const width = 900;
  const height = 80 + milestones.length * 26;
  const s = svg(width, height, labels.title);
  const times = milestones.map((m) => m.at).concat(deadline ? [deadline] : []);
  const start = Math.min(...times);
  const end = Math.max(...times, start + 1);
  const x = (t) => 200 + ((t - start) / (end - start)) * (width - 240);
  s.append(el('line', { x1: 200, y1: 30, x2: width - 40, y2: 30, stroke: '#5b6877' }));
  s.append(el('text', { x: 200, y: 20 }, format(start)));
  s.append(el('text', { x: width - 40, y: 20, 'text-anchor': 'end' }, format(end)));
  milestones.forEach((m, i) => {
    const y = 55 + i * 26;
    const late = deadline && m.late;
    s.append(el('text', { x: 10, y: y + 4 }, m.label));
    s.append(el('line', { x1: 200, y1: y, x2: x(m.at), y2: y, stroke: late ? '#b3261e' : '#0b5cad', 'stroke-width': 6 }));
    s.append(el('circle', { cx: x(m.at), cy: y, r: 6, fill: late ? '#b3261e' : '#0b5cad' }));
    const hours = ((m.at - start) / 3600000).toFixed(1);
    s.append(el('text', { x: x(m.at) + 10, y: y + 4 }, `+${hours} h`));
  });
  if (deadline) {
    const dx = x(deadline);
    s.append(el('line', { x1: dx, y1: 30, x2: dx, y2: height - 10, stroke: '#b3261e', 'stroke-dasharray': '5 3', 'stroke-width': 2 }));
    s.append(el('text', { x: dx + 4, y: height - 12, fill: '#b3261e' }, `${labels.deadline} ${format(deadline)}`));
  }
  return s;
}

/** A heat map of counts: `rows` (names), `columns` (years), `count(row, column)`. */
export function heatmap(rows, columns, count, label) {
  const cell = 34;
  const left = 230;
  const width = left + columns.length * cell + 20;
  const height = 40 + rows.length * 20;
  const s = svg(width, height, label);
  let max = 1;
  for (const r of rows) for (const c of columns) max = Math.max(max, count(r, c));
  columns.forEach((c, j) => s.append(el('text', { x: left + j * cell + cell / 2, y: 24, 'text-anchor': 'middle' }, String(c))));
  rows.forEach((r, i) => {
    const y = 32 + i * 20;
    s.append(el('text', { x: left - 6, y: y + 13, 'text-anchor': 'end' }, r));
    columns.forEach((c, j) => {
      const n = count(r, c);
      const shade = n ? 0.15 + 0.85 * (n / max) : 0;
      s.append(el('rect', { x: left + j * cell, y, width: cell - 2, height: 18, fill: n ? `rgba(11,92,173,${shade.toFixed(2)})` : '#eef2f6' }));
      if (n) s.append(el('text', { x: left + j * cell + cell / 2 - 1, y: y + 13, 'text-anchor': 'middle', fill: shade > 0.55 ? '#fff' : '#1d2733' }, String(n)));
    });
  });
  return s;
}

/** The log's size over time: `series` [{name, colour, points: [[ms, position]]}]. */
export function growthChart(series, format, label) {
  const width = 900;
  const height = 320;
  const s = svg(width, height, label);
  const all = series.flatMap((x) => x.points);
  if (!all.length) return s;
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]), t0 + 1);
  const n1 = Math.max(...all.map((p) => p[1]), 1);
  const x = (t) => 70 + ((t - t0) / (t1 - t0)) * (width - 100);
  const y = (n) => height - 40 - (n / n1) * (height - 80);
  s.append(el('line', { x1: 70, y1: height - 40, x2: width - 30, y2: height - 40, stroke: '#5b6877' }));
  s.append(el('line', { x1: 70, y1: 30, x2: 70, y2: height - 40, stroke: '#5b6877' }));
  s.append(el('text', { x: 66, y: 34, 'text-anchor': 'end' }, String(n1)));
  s.append(el('text', { x: 66, y: height - 40, 'text-anchor': 'end' }, '0'));
  s.append(el('text', { x: 70, y: height - 22 }, format(t0)));
  s.append(el('text', { x: width - 30, y: height - 22, 'text-anchor': 'end' }, format(t1)));
  series.forEach((line, i) => {
    const points = line.points.slice().sort((a, b) => a[0] - b[0]);
    const d = points.map((p, k) => `${k ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    s.append(el('path', { d, fill: 'none', stroke: line.colour, 'stroke-width': 2 }));
    s.append(el('rect', { x: 90, y: 40 + i * 18, width: 12, height: 4, fill: line.colour }));
    s.append(el('text', { x: 108, y: 46 + i * 18 }, line.name));
  });
  return s;
}
