// Client-side DAG checks for the editor (the server validates again). Pure (unit-tested).

/** One cycle as a node path with the first node repeated at the end, or null when the graph is acyclic. */
export function findCycle(nodes: number[], edges: [number, number][]): number[] | null {
  const succ = new Map<number, number[]>()
  for (const n of nodes) succ.set(n, [])
  for (const [u, v] of edges) {
    if (succ.has(u) && succ.has(v)) succ.get(u)!.push(v)
  }
  const WHITE = 0
  const GREY = 1
  const BLACK = 2
  const colour = new Map<number, number>(nodes.map((n) => [n, WHITE]))
  const parent = new Map<number, number>()
  for (const start of nodes) {
    if (colour.get(start) !== WHITE) continue
    const stack: [number, number][] = [[start, 0]]
    colour.set(start, GREY)
    while (stack.length) {
      const top = stack[stack.length - 1]
      const [v, i] = top
      const next = succ.get(v)!
      if (i < next.length) {
        top[1] = i + 1
        const w = next[i]
        if (colour.get(w) === GREY) {
          const path = [w]
          let x = v
          while (x !== w) {
            path.push(x)
            x = parent.get(x)!
          }
          path.push(w)
          return path.reverse()
        }
        if (colour.get(w) === WHITE) {
          colour.set(w, GREY)
          parent.set(w, v)
          stack.push([w, 0])
        }
      } else {
        colour.set(v, BLACK)
        stack.pop()
      }
    }
  }
  return null
}

/** Tasks without upstream (entry) and without downstream (exit). */
export function entryExit(nodes: number[], edges: [number, number][]): { entry: number[]; exit: number[] } {
  const hasUp = new Set(edges.map((e) => e[1]))
  const hasDown = new Set(edges.map((e) => e[0]))
  return { entry: nodes.filter((n) => !hasUp.has(n)), exit: nodes.filter((n) => !hasDown.has(n)) }
}
