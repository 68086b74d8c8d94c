// The API token the user pasted on the login screen, kept in localStorage.
import { ref } from 'vue'
import { TOKEN_KEY } from './client'

function read(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

export const token = ref<string | null>(read())
/** why the user was sent back to the login screen (an i18n key), shown there once */
export const logoutReason = ref<string | null>(null)

export function setToken(value: string): void {
  token.value = value
  localStorage.setItem(TOKEN_KEY, value)
  logoutReason.value = null
}

export function clearToken(reason: string | null = null): void {
  token.value = null
  localStorage.removeItem(TOKEN_KEY)
  logoutReason.value = reason
}
