import { describe, expect, it } from 'vitest'
import { entryExit, findCycle } from '@/lib/dag'
import { layoutDag, nodeWidth, pathThrough } from '@/lib/dagLayout'

const nodes = [
  { id: 1, label: 'extract' },
  { id: 2, label: 'transform' },
  { id: 3, label: 'load' },
  { id: 4, label: 'report' },
]

describe('layoutDag', () => {
  it('places upstream tasks left of downstream tasks (LR) without overlaps', () => {
    const l = layoutDag(nodes, [
      [1, 2],
      [2, 3],
      [1, 4],
    ])
    const byId = new Map(l.nodes.map((n) => [n.id, n]))
    expect(byId.get(1)!.x + byId.get(1)!.width).toBeLessThan(byId.get(2)!.x)
    expect(byId.get(2)!.x + byId.get(2)!.width).toBeLessThan(byId.get(3)!.x)
    for (const a of l.nodes)
      for (const b of l.nodes) {
        if (a.id >= b.id) continue
        const overlap = a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
        expect(overlap).toBe(false)
      }
    expect(l.edges).toHaveLength(3)
    for (const e of l.edges) expect(e.path).toMatch(/^M[\d.-]+,[\d.-]+/)
    for (const n of l.nodes) {
      expect(n.x).toBeGreaterThanOrEqual(0)
      expect(n.x + n.width).toBeLessThanOrEqual(l.width)
      expect(n.y + n.height).toBeLessThanOrEqual(l.height)
    }
  })

  it('keeps room for an edge label between the two nodes and puts the label there', () => {
    const edges: [number, number][] = [
      [1, 2],
      [1, 3],
    ]
    const label = "1: ${region} == 'eu' && ${rows} > 10"
    const plain = layoutDag(nodes.slice(0, 3), edges)
    const labelled = layoutDag(nodes.slice(0, 3), edges, { edgeLabels: { '1>2': label } })
    const at = (l: typeof plain, id: number) => l.nodes.find((n) => n.id === id)!
    const gap = (l: typeof plain) => at(l, 2).x - (at(l, 1).x + at(l, 1).width)
    // the label (about 7 px a character) fits between the switch and its branch; without it the gap is narrower
    expect(gap(labelled)).toBeGreaterThanOrEqual(label.length * 7)
    expect(gap(plain)).toBeLessThan(label.length * 7)
    const mid = labelled.edges.find((e) => e.from === 1 && e.to === 2)!.mid
    expect(mid.x).toBeGreaterThan(at(labelled, 1).x + at(labelled, 1).width)
    expect(mid.x).toBeLessThan(at(labelled, 2).x)
  })

  it('ignores edges to unknown nodes, self loops and duplicates', () => {
    const l = layoutDag(nodes.slice(0, 2), [
      [1, 2],
      [1, 2],
      [2, 2],
      [2, 99],
    ])
    expect(l.edges.map((e) => [e.from, e.to])).toEqual([[1, 2]])
  })

  it('handles the empty graph and a cycle', () => {
    expect(layoutDag([], [])).toEqual({ width: 0, height: 0, nodes: [], edges: [] })
    const l = layoutDag(nodes.slice(0, 2), [
      [1, 2],
      [2, 1],
    ])
    expect(l.nodes).toHaveLength(2)
  })

  it('sizes nodes by label within bounds', () => {
    expect(nodeWidth('a', undefined, 120, 240)).toBe(120)
    expect(nodeWidth('x'.repeat(200), undefined, 120, 240)).toBe(240)
    expect(nodeWidth('每日订单汇总', undefined, 60, 240)).toBeGreaterThan(nodeWidth('abcdef', undefined, 60, 240))
  })

  it('draws paths through points', () => {
    expect(pathThrough([])).toBe('')
    expect(pathThrough([{ x: 0, y: 0 }, { x: 10, y: 5 }])).toBe('M0,0 L10,5')
    expect(pathThrough([{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 20, y: 10 }])).toBe('M0,0 Q10,0 15,5 L20,10')
  })
})

describe('findCycle / entryExit', () => {
  it('finds a real cycle path', () => {
    expect(findCycle([1, 2, 3], [[1, 2], [2, 3]])).toBeNull()
    const c = findCycle([1, 2, 3, 4], [[1, 2], [2, 3], [3, 1], [3, 4]])!
    expect(c[0]).toBe(c[c.length - 1])
    expect(new Set(c)).toEqual(new Set([1, 2, 3]))
    for (let i = 0; i + 1 < c.length; i++) expect([[1, 2], [2, 3], [3, 1]]).toContainEqual([c[i], c[i + 1]])
    expect(findCycle([5], [[5, 5]])).toEqual([5, 5])
  })
  it('computes entry and exit tasks', () => {
    expect(entryExit([1, 2, 3, 4], [[1, 2], [2, 3]])).toEqual({ entry: [1, 4], exit: [3, 4] })
  })
})
