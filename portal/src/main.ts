import { createApp } from 'vue'
import App from './App.vue'
import { onUnauthorized } from './api'
import { clearToken } from './api/auth'
import { i18n } from './i18n'
import { router } from './router'

// 401 anywhere: forget the token (or the ended session) and go back to the login screen with a message.
onUnauthorized((err) => {
  clearToken(err.code === 'session-ended' ? 'login.sessionEnded' : 'login.expired')
  const current = router.currentRoute.value
  if (current.name !== 'login') void router.push({ name: 'login', query: { redirect: current.fullPath } })
})

document.documentElement.lang = String(i18n.global.locale.value)
createApp(App).use(i18n).use(router).mount('#app')
