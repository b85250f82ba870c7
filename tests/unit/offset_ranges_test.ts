/**
 * OffsetRanges against a plain Set of offsets, on random operations: the
 * same members, sizes, differences, unions and counts.
 */
import assert from "node:assert/strict";
import { OffsetRanges } from "../../lib/ops/offset_ranges.ts";

function seeded(seed: number) {
  let state = seed >>> 0;
  return (n: number) => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state % n;
  };
}

function setOf(ranges: OffsetRanges): Set<number> {
  const set = new Set<number>();
  for (const [first, last] of ranges.runs()) {
    for (let o = first; o <= last; o++) set.add(o);
  }
  return set;
}

Deno.test("OffsetRanges holds what a Set holds, as disjoint runs that never touch", () => {
  const random = seeded(15);
  for (let round = 0; round < 200; round++) {
    const a = new OffsetRanges();
    const b = new OffsetRanges();
    const sa = new Set<number>();
    const sb = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const first = random(300);
      const last = first + random(round % 2 === 0 ? 3 : 30);
      const [ranges, set] = random(2) === 0 ? [a, sa] : [b, sb];
      ranges.addRun(first, last);
      for (let o = first; o <= last; o++) set.add(o);
    }
    assert.deepEqual(setOf(a), sa);
    assert.equal(a.size, sa.size);
    const runs = a.runs();
    for (let i = 1; i < runs.length; i++) {
      assert.ok(runs[i][0] > runs[i - 1][1] + 1, "runs are apart");
    }
    assert.deepEqual(
      setOf(a.minus(b)),
      new Set([...sa].filter((o) => !sb.has(o))),
    );
    assert.deepEqual(setOf(a.union(b)), new Set([...sa, ...sb]));
    const first = random(300);
    const last = first + random(100) - 20;
    assert.equal(
      a.countWithin(first, last),
      [...sa].filter((o) => o >= first && o <= last).length,
    );
    const probe = random(330);
    assert.equal(a.has(probe), sa.has(probe));
  }
});

Deno.test("ten million offsets in order are one run", () => {
  const ranges = new OffsetRanges();
  for (let o = 0; o < 10_000_000; o++) ranges.add(o);
  assert.equal(ranges.runs().length, 1);
  assert.equal(ranges.size, 10_000_000);
});
