// Who is logged in (GET /api/v1/me, loaded by App.vue when the token changes) and what the roles allow, so screens
// hide the buttons a role cannot use (the API refuses them anyway with 403). Roles as common.roles grants them:
// `admin` implies every role.
import { computed, ref } from 'vue'
import type { Me } from '@/api/types'

export const me = ref<Me | null>(null)

export function grants(roles: readonly string[] | undefined, needed: string): boolean {
  if (!roles) return false
  return roles.includes('admin') || roles.includes(needed)
}

/** editor (or admin): tasks, workflows, migrations, proposals. Unknown (not loaded yet): false. */
export const canEdit = computed(() => grants(me.value?.roles, 'editor'))
/** admin: API keys (the navigation shows the screen to admins only). Unknown (not loaded yet): false. */
export const isAdmin = computed(() => me.value?.roles.includes('admin') ?? false)
/** approver (or admin): approve a version */
export const canApprove = computed(() => grants(me.value?.roles, 'approver'))
/** publisher (or admin): publish, online/offline, run, archive */
export const canPublish = computed(() => grants(me.value?.roles, 'publisher'))

/** the role a workflow action needs (as the gateway checks it) */
export function actionAllowed(action: string): boolean {
  if (action === 'approve') return canApprove.value
  return canPublish.value
}
