// Automatic DAG layout with dagre (Sugiyama-style layering), turned into plain SVG geometry. Pure (unit-tested).
import dagre from '@dagrejs/dagre'

export interface LayoutNodeInput {
  id: number
  label: string
  /** a second, smaller line (task type) */
  sub?: string
}

export interface LayoutNode extends LayoutNodeInput {
  /** top-left corner */
  x: number
  y: number
  width: number
  height: number
}

export interface LayoutEdge {
  from: number
  to: number
  /** SVG path `d` from the upstream node's border to the downstream node's border */
  path: string
  /** the middle point of the path (where an edge's label goes) */
  mid: { x: number; y: number }
}

export interface DagLayout {
  width: number
  height: number
  nodes: LayoutNode[]
  edges: LayoutEdge[]
}

export interface LayoutOptions {
  direction?: 'LR' | 'TB'
  nodeHeight?: number
  minNodeWidth?: number
  maxNodeWidth?: number
  margin?: number
  /** text drawn on an edge (`"from>to"` -> text): the layout keeps room for it between the two nodes */
  edgeLabels?: Record<string, string>
}

const CHAR_WIDTH = 7.2

/** Node width from its label: wide enough for the text, within [min, max]. */
export function nodeWidth(label: string, sub: string | undefined, min: number, max: number): number {
  const chars = Math.max(label.length, sub?.length ?? 0)
  // CJK characters are about twice as wide as latin ones
  const wide = [...label].filter((c) => c.charCodeAt(0) > 0x2e80).length
  return Math.min(max, Math.max(min, Math.round((chars + wide) * CHAR_WIDTH + 32)))
}

/** A smooth path through the points (quadratic segments through midpoints). */
export function pathThrough(points: { x: number; y: number }[]): string {
  if (points.length === 0) return ''
  const r = (n: number) => Math.round(n * 10) / 10
  const [first, ...rest] = points
  if (rest.length === 0) return `M${r(first.x)},${r(first.y)}`
  if (rest.length === 1) return `M${r(first.x)},${r(first.y)} L${r(rest[0].x)},${r(rest[0].y)}`
  let d = `M${r(first.x)},${r(first.y)}`
  for (let i = 0; i < rest.length - 1; i++) {
    const c = rest[i]
    const n = rest[i + 1]
    const mx = (c.x + n.x) / 2
    const my = (c.y + n.y) / 2
    d += ` Q${r(c.x)},${r(c.y)} ${r(mx)},${r(my)}`
  }
  const last = rest[rest.length - 1]
  return `${d} L${r(last.x)},${r(last.y)}`
}

export function layoutDag(
  nodes: LayoutNodeInput[],
  edges: [number, number][],
  opts: LayoutOptions = {},
): DagLayout {
  const direction = opts.direction ?? 'LR'
  const height = opts.nodeHeight ?? 44
  const min = opts.minNodeWidth ?? 120
  const max = opts.maxNodeWidth ?? 240
  const margin = opts.margin ?? 20
  if (nodes.length === 0) return { width: 0, height: 0, nodes: [], edges: [] }

  const g = new dagre.graphlib.Graph({ multigraph: false })
  g.setGraph({ rankdir: direction, nodesep: 24, ranksep: 56, edgesep: 12, marginx: margin, marginy: margin })
  g.setDefaultEdgeLabel(() => ({}))
  const known = new Set<number>()
  for (const n of nodes) {
    known.add(n.id)
    g.setNode(String(n.id), { width: nodeWidth(n.label, n.sub, min, max), height })
  }
  const kept: [number, number][] = []
  const seen = new Set<string>()
  for (const [u, v] of edges) {
    const key = `${u}>${v}`
    if (!known.has(u) || !known.has(v) || u === v || seen.has(key)) continue
    seen.add(key)
    kept.push([u, v])
    const label = opts.edgeLabels?.[key]
    if (label) g.setEdge(String(u), String(v), { width: nodeWidth(label, undefined, 0, 10_000) - 24, height: 16, labelpos: 'c' })
    else g.setEdge(String(u), String(v))
  }
  dagre.layout(g)

  const outNodes: LayoutNode[] = nodes.map((n) => {
    const l = g.node(String(n.id))
    const w = Number(l.width)
    const h = Number(l.height)
    return { ...n, x: Number(l.x) - w / 2, y: Number(l.y) - h / 2, width: w, height: h }
  })
  const outEdges: LayoutEdge[] = kept.map(([u, v]) => {
    const e = g.edge(String(u), String(v)) as { points?: { x: number; y: number }[]; x?: number; y?: number } | undefined
    const points = e?.points ?? []
    // a labelled edge's label has its own place (x, y); another edge's middle point is the middle of its path
    const mid = e?.x != null && e?.y != null ? { x: e.x, y: e.y } : (points[Math.floor(points.length / 2)] ?? { x: 0, y: 0 })
    return { from: u, to: v, path: pathThrough(points), mid: { x: Number(mid.x), y: Number(mid.y) } }
  })
  const graph = g.graph() as { width?: number; height?: number }
  let width = Number(graph.width ?? 0)
  let totalHeight = Number(graph.height ?? 0)
  for (const n of outNodes) {
    width = Math.max(width, n.x + n.width + margin)
    totalHeight = Math.max(totalHeight, n.y + n.height + margin)
  }
  return { width: Math.ceil(width), height: Math.ceil(totalHeight), nodes: outNodes, edges: outEdges }
}
