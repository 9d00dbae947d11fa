// The dashboard's budget charts: each practice's calls used against its limit over the last
// hour, redrawn every 10 seconds from /admin/practices/budget.json.
(() => {
  const figures = document.querySelectorAll('[data-budget]');
  if (figures.length === 0 || typeof uPlot === 'undefined') return;
  const plots = new Map();
  function draw(history) {
    for (const figure of figures) {
      const samples = history[figure.dataset.budget] || [];
      const el = figure.querySelector('.plot');
      const data = [
        samples.map((s) => s.at / 1000),
        samples.map((s) => s.used),
        samples.map((s) => s.limit),
        samples.map((s) => s.waiting),
      ];
      const old = plots.get(el);
      if (old) old.setData(data);
      else {
        const width = Math.max(280, el.clientWidth || 600);
        const series = [
          {},
          { label: 'Used', stroke: '#0b6bcb', width: 2, fill: 'rgba(11,107,203,0.08)' },
          { label: 'Limit', stroke: '#b42318', dash: [6, 4], width: 1 },
          { label: 'Waiting', stroke: '#a15c07', width: 1 },
        ];
        // Always the hour up to the newest sample, and from zero to above the limit: one
        // sample must not stretch the axes to years.
        const scales = {
          x: {
            time: true,
            range: (u) => {
              const xs = u.data[0];
              const end = xs.length > 0 ? xs[xs.length - 1] : Date.now() / 1000;
              return [end - 3600, end + 30];
            },
          },
          y: { range: (u) => [0, Math.max(10, ...u.data[2].filter((v) => v != null)) * 1.1] },
        };
        plots.set(
          el,
          new uPlot(
            { width, height: 200, series, scales, axes: [{}, { label: 'calls' }] },
            data,
            el,
          ),
        );
      }
      el.dataset.points = String(samples.length);
      // The newest sample drawn: a later read of the history may hold one more.
      el.dataset.last = String(samples.length > 0 ? samples[samples.length - 1].at : '');
    }
  }
  async function refresh() {
    const response = await fetch('/admin/practices/budget.json', { credentials: 'same-origin' });
    if (response.ok) draw(await response.json());
  }
  refresh().catch(() => {});
  setInterval(() => refresh().catch(() => {}), 10_000);
})();
