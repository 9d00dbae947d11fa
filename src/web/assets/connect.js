// Search as you type on /connect. Without this script the Search button does the same with a
// page load; with it, the results below the box follow the typing.
(() => {
  const form = document.getElementById('search');
  const input = document.getElementById('q');
  const results = document.getElementById('results');
  if (!form || !input || !results) return;
  let timer;
  let latest = 0;
  async function update() {
    const q = input.value.trim();
    const asked = ++latest;
    const response = await fetch(`/connect/results?q=${encodeURIComponent(q)}`, {
      headers: { accept: 'text/html' },
    });
    // A slower answer to an older query must not overwrite a newer one.
    if (!response.ok || asked !== latest) return;
    const html = await response.text();
    if (html === results.innerHTML) return;
    // A choice made while this answer was on its way survives it.
    const chosen = results.querySelector('input[name="practice"]:checked');
    results.innerHTML = html;
    if (chosen) {
      const again = results.querySelector(
        `input[name="practice"][value="${CSS.escape(chosen.value)}"]`,
      );
      if (again && !again.disabled) again.checked = true;
    }
    history.replaceState(null, '', q ? `/connect?q=${encodeURIComponent(q)}` : '/connect');
  }
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      update().catch(() => {});
    }, 150);
  });
})();
