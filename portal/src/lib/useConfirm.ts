import { useDialog, type DialogOptions } from 'naive-ui'
import type { VNodeChild } from 'vue'

export interface ConfirmOptions {
  type?: 'warning' | 'error' | 'info'
  title: string
  /** the question, or a render function (a question with fields: it is rendered reactively) */
  content: string | (() => VNodeChild)
  positiveText: string
  negativeText: string
  /** a class on the dialog, so tests (and styles) can find it */
  name: string
}

/** A confirm dialog whose action runs once: a second click on its button (a double click) while the action is in
 * flight does nothing, and the same dialog is not opened twice. The dialog closes when the action has finished;
 * `action` reports its own errors (it must not throw). */
export function useConfirm() {
  const dialog = useDialog()
  const open = new Set<string>()
  return function confirm(opts: ConfirmOptions, action: () => Promise<void>): void {
    if (open.has(opts.name)) return
    open.add(opts.name)
    let busy = false
    const options: DialogOptions = {
      title: opts.title,
      content: opts.content,
      positiveText: opts.positiveText,
      negativeText: opts.negativeText,
      class: `confirm-${opts.name}`,
      // a click that lands on the mask (the second click of a double click) must not dismiss the question
      maskClosable: false,
      onAfterLeave: () => open.delete(opts.name),
      onPositiveClick: async () => {
        if (busy) return false
        busy = true
        d.loading = true
        try {
          await action()
        } finally {
          d.loading = false
        }
      },
    }
    const d = dialog[opts.type ?? 'warning'](options)
  }
}
