// Gatehouse's initializer of the API reference page (/docs): Swagger UI on
// the API's OpenAPI document as Gatehouse rewrote it (its OAuth flows at
// Gatehouse's endpoints, its servers at the gateway). The page's settings
// come from data attributes, so that no script is inline and the page's
// Content-Security-Policy can say script-src 'self'.
(function () {
  'use strict';
  var el = document.getElementById('swagger-ui');
  var ui = SwaggerUIBundle({
    url: el.dataset.specUrl,
    domNode: el,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    // No ?url= or ?configUrl=: the page shows this document only.
    queryConfigEnabled: false,
    // No calls to the public validator: the page works offline.
    validatorUrl: null,
    oauth2RedirectUrl: el.dataset.redirectUrl,
    // Tokens live in this page only, never in local storage.
    persistAuthorization: false,
    withCredentials: false
  });
  // The console's "credentials created" page links here with the client
  // ID, so that the Authorize dialog has it filled in.
  var clientId = new URLSearchParams(window.location.search).get('client_id') || '';
  ui.initOAuth({
    clientId: clientId,
    usePkceWithAuthorizationCodeGrant: true
  });
})();
