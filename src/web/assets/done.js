// On fhirbridge's last page of a sign-in: when an app opened the sign-in in a popup
// (fhirbridge-connect.js), tell it how it went. Posted only to the origins on the
// returnToAllowList, so no other site that opens the page learns the outcome.
(() => {
  const el = document.getElementById('fhirbridge-outcome');
  if (!el || !window.opener) return;
  const message = {
    type: 'fhirbridge:connect',
    connection: el.dataset.connection,
    outcome: el.dataset.outcome,
  };
  for (const origin of JSON.parse(el.dataset.origins || '[]')) {
    window.opener.postMessage(message, origin);
  }
})();
