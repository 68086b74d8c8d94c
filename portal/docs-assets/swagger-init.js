// Starts Swagger UI on the gateway's /docs page. A file of its own, not an inline script: the gateway's
// Content-Security-Policy allows scripts from its own origin only (docs/security.md).
window.addEventListener('DOMContentLoaded', function () {
  var el = document.getElementById('swagger-ui')
  window.ui = SwaggerUIBundle({
    url: el.getAttribute('data-openapi-url'),
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    // no call to the public validator service: the page talks to its own origin only
    validatorUrl: null,
    persistAuthorization: false,
  })
})
