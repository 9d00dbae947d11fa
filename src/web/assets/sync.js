// The dashboard's live sync progress: follows /admin/connections/{id}/sync/stream (server-sent
// events) and redraws the status line and the per-type table as the sync runs.
(() => {
  const box = document.getElementById('sync-live');
  if (!box || typeof EventSource === 'undefined') return;
  const status = box.querySelector('.sync-status');
  const body = box.querySelector('tbody');
  const stream = new EventSource(box.dataset.stream);
  const cell = (text) => {
    const td = document.createElement('td');
    td.textContent = String(text);
    return td;
  };
  stream.addEventListener('progress', (event) => {
    const s = JSON.parse(event.data);
    status.textContent = s.error ? `${s.status}: ${s.error}` : s.status;
    box.dataset.status = s.status;
    body.replaceChildren(
      ...s.types.map((t) => {
        const tr = document.createElement('tr');
        tr.append(cell(t.type), cell(t.outcome || t.status), cell(t.resources), cell(t.pages));
        return tr;
      }),
    );
  });
  stream.addEventListener('end', () => stream.close());
})();
