// Renders the AsyncAPI document on the gateway's /asyncapi page (a file of its own: the gateway's
// Content-Security-Policy allows no inline script; docs/security.md).
window.addEventListener('DOMContentLoaded', function () {
  var el = document.getElementById('asyncapi')
  AsyncApiStandalone.render(
    {
      schema: { url: el.getAttribute('data-asyncapi-url'), options: { method: 'GET', mode: 'same-origin' } },
      config: { show: { sidebar: true, errors: true } },
    },
    el,
  )
})
