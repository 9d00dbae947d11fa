// Draws the record viewer's charts with uPlot (served from /assets/uplot.js) from the JSON
// the page carries; each chart's table below it holds the same values for screen readers.
(() => {
  const source = document.getElementById('record-charts');
  if (!source || typeof uPlot === 'undefined') return;
  const charts = JSON.parse(source.textContent || '[]');
  const colors = ['#0b6bcb', '#b42318', '#16794c', '#a15c07'];
  for (const chart of charts) {
    const el = document.querySelector(`[data-chart="${chart.id}"] .plot`);
    if (!el) continue;
    // uPlot wants one x axis: the union of every series' times, in seconds.
    const times = [...new Set(chart.series.flatMap((s) => s.points.map((p) => p[0])))].sort(
      (a, b) => a - b,
    );
    const at = new Map(times.map((t, i) => [t, i]));
    const data = [times.map((t) => t / 1000)];
    const series = [{}];
    chart.series.forEach((s, i) => {
      const ys = times.map(() => null);
      for (const [t, v] of s.points) ys[at.get(t)] = v;
      data.push(ys);
      series.push({
        label: s.name,
        stroke: colors[i % colors.length],
        width: 2,
        points: { show: true, size: 6 },
        spanGaps: true,
      });
    });
    for (const [label, value] of [
      ['Low', chart.low],
      ['High', chart.high],
    ]) {
      if (value === null) continue;
      data.push(times.map(() => value));
      series.push({
        label: `${label} (reference)`,
        stroke: '#8a97a8',
        dash: [6, 4],
        width: 1,
        points: { show: false },
      });
    }
    const width = Math.max(280, el.clientWidth || 600);
    new uPlot(
      { width, height: 220, series, axes: [{}, { label: chart.unit }], legend: { show: true } },
      data,
      el,
    );
    el.dataset.points = String(chart.series.reduce((n, s) => n + s.points.length, 0));
  }
})();
