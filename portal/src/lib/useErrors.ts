import { useI18n } from 'vue-i18n'
import { describeError, type FriendlyError, type TaskName } from '@/api/errors'

/** `describe(err)` in the current language. */
export function useErrors() {
  const { t, te } = useI18n()
  const translate = (key: string, params?: Record<string, unknown>) => (te(key) ? t(key, params ?? {}) : key)
  return {
    describe: (err: unknown, taskName?: TaskName): FriendlyError => describeError(err, translate, taskName),
  }
}
