// The dashboard's list of sync runs, kept live: follows /admin/syncs/stream (server-sent events)
// and redraws each run's status, progress and counts; a run that starts meanwhile is added on top.
(() => {
  const table = document.getElementById('sync-runs');
  if (!table || typeof EventSource === 'undefined') return;
  const body = table.querySelector('tbody');
  const time = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '—');
  const tone = {
    succeeded: 'ok',
    running: 'warn',
    queued: 'warn',
    failed: 'bad',
    cancelled: 'bad',
  };
  const cell = (text, className) => {
    const td = document.createElement('td');
    td.textContent = String(text);
    if (className) td.className = className;
    return td;
  };
  const draw = (run) => {
    const tr = document.createElement('tr');
    tr.dataset.job = run.id;
    tr.dataset.status = run.status;
    const who = document.createElement('td');
    who.className = 'mono';
    if (run.connectionId) {
      const a = document.createElement('a');
      a.href = `/admin/connections/${run.connectionId}`;
      a.textContent = run.connectionId;
      who.append(a);
    }
    const state = document.createElement('td');
    const badge = document.createElement('span');
    badge.className = `status ${tone[run.status] || 'warn'}`;
    badge.textContent = run.status;
    state.append(badge);
    const progress = document.createElement('td');
    const bar = document.createElement('progress');
    bar.max = Math.max(run.typesTotal, 1);
    bar.value = run.typesDone;
    bar.textContent = `${run.typesDone} of ${run.typesTotal}`;
    progress.append(bar, ` ${run.typesDone} / ${run.typesTotal} types`);
    progress.className = 'types';
    tr.append(
      who,
      state,
      cell(run.mode, 'wide-only'),
      progress,
      cell(run.resources, 'resources'),
      cell(run.pages, 'pages wide-only'),
      cell(time(run.startedAt || run.createdAt), 'wide-only'),
      cell(time(run.finishedAt), 'wide-only'),
    );
    return tr;
  };
  const stream = new EventSource(table.dataset.stream);
  stream.addEventListener('progress', (event) => {
    const runs = JSON.parse(event.data);
    body.replaceChildren(...runs.map(draw));
    const none = table.parentElement.querySelector('.no-runs');
    if (none) none.hidden = runs.length > 0;
    table.dataset.updates = String(Number(table.dataset.updates || 0) + 1);
  });
})();
