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
