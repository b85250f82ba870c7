import assert from "node:assert/strict";
import { Latencies } from "../../lib/app/continuous.ts";

Deno.test("Latencies gives nearest-rank percentiles, and none without samples", () => {
  const latencies = new Latencies();
  assert.deepEqual(latencies.summary(), {
    samples: 0,
    p50_ms: undefined,
    p95_ms: undefined,
    p99_ms: undefined,
    max_ms: undefined,
  });
  for (let ms = 100; ms >= 1; ms--) latencies.add(ms);
  assert.deepEqual(latencies.summary(), {
    samples: 100,
    p50_ms: 50,
    p95_ms: 95,
    p99_ms: 99,
    max_ms: 100,
  });
  latencies.add(1000);
  assert.equal(latencies.percentile(99), 100);
  assert.equal(latencies.percentile(100), 1000);
});

Deno.test("Latencies splits out the first and the last minute of a run by when each sample was measured", () => {
  const latencies = new Latencies();
  const start = Date.UTC(2026, 11, 1, 15);
  // Five minutes, one sample a second, growing from 100 ms to 399 ms.
  for (let s = 0; s < 300; s++) latencies.add(100 + s, start + s * 1000);
  assert.deepEqual(latencies.span, { first: start, last: start + 299_000 });
  const { first, last } = latencies.ends(60_000);
  assert.equal(first.count, 60);
  assert.equal(last.count, 60);
  assert.equal(first.percentile(95), 156);
  assert.equal(last.percentile(95), 396);
  assert.equal(latencies.between(start, start + 1000).count, 1);
  assert.equal(new Latencies().span, undefined);
});

Deno.test("Latencies sorts again after samples are added, past the room it starts with", () => {
  const latencies = new Latencies();
  for (let ms = 1; ms <= 3000; ms++) latencies.add(3001 - ms, ms);
  assert.equal(latencies.percentile(50), 1500);
  assert.equal(latencies.percentile(100), 3000);
  for (let ms = 3001; ms <= 5000; ms++) latencies.add(ms, ms);
  assert.equal(latencies.count, 5000);
  assert.equal(latencies.percentile(50), 2500);
  assert.deepEqual(latencies.span, { first: 1, last: 5000 });
  assert.equal(latencies.between(4001, 5001).percentile(1), 4010);
});
