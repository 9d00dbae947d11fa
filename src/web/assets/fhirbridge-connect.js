// fhirbridge-connect.js: opens a patient's sign-in from an app's page and resolves with how it
// went. Served by fhirbridge at /fhirbridge-connect.js; the app's backend makes the link
// (POST /api/connections) and hands its authorizeUrl to the page.
//
//   const { connection, outcome } = await FhirbridgeConnect.open({ authorizeUrl });
//   // outcome: 'connected' | 'declined' | 'error' | 'closed' (the patient closed the window)
//
// mode 'popup' (the default) opens a window and listens for the outcome fhirbridge's last page
// posts back (only to origins on fhirbridge's returnToAllowList); 'redirect' sends this page
// to the sign-in, and the app's returnTo receives ?connection=…&outcome=… as usual.
(() => {
  const MESSAGE = 'fhirbridge:connect';

  function open(options) {
    const authorizeUrl = options && options.authorizeUrl;
    if (typeof authorizeUrl !== 'string')
      return Promise.reject(new Error('authorizeUrl is required'));
    const bridge = new URL(authorizeUrl).origin;
    if (options.mode === 'redirect') {
      window.location.assign(authorizeUrl);
      return new Promise(() => {});
    }
    const width = 500;
    const height = 700;
    const left = Math.max(0, window.screenX + (window.outerWidth - width) / 2);
    const top = Math.max(0, window.screenY + (window.outerHeight - height) / 2);
    const popup = window.open(
      authorizeUrl,
      'fhirbridge-connect',
      `popup=yes,width=${width},height=${height},left=${left},top=${top}`,
    );
    // A blocked popup: go the whole page there instead.
    if (!popup) {
      window.location.assign(authorizeUrl);
      return new Promise(() => {});
    }
    return new Promise((resolve) => {
      let done = false;
      const finish = (result) => {
        if (done) return;
        done = true;
        window.removeEventListener('message', onMessage);
        clearInterval(watch);
        if (!popup.closed) popup.close();
        resolve(result);
      };
      function onMessage(event) {
        // Only fhirbridge's own page, and only from the window this call opened.
        if (event.origin !== bridge || event.source !== popup) return;
        const data = event.data;
        if (!data || data.type !== MESSAGE) return;
        finish({ connection: data.connection, outcome: data.outcome });
      }
      window.addEventListener('message', onMessage);
      const watch = setInterval(() => {
        if (popup.closed) finish({ connection: null, outcome: 'closed' });
      }, 500);
    });
  }

  window.FhirbridgeConnect = { open };
})();
