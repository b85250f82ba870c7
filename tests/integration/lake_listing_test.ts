/**
 * The bucket lists as the local lake does (lib/lake/lake.ts): the same keys
 * in the same order under a prefix, from a `startAfter`, and the same
 * folders, against the real MinIO; then discovery loads from the bucket what
 * landed after its marks.
 */
import assert from "node:assert/strict";
import { eventKey } from "../../lib/lake/keys.ts";
import type { Lake, ListOptions } from "../../lib/lake/lake.ts";
import { LocalLake } from "../../lib/lake/local.ts";
import { encodeLines } from "../../lib/lake/ndjson.ts";
import { S3Lake } from "../../lib/lake/s3.ts";
import { loadNewObjects } from "../../lib/load/loader.ts";
import { setLogSink } from "../../lib/runtime/log.ts";
import { DuckDBWarehouse } from "../../lib/warehouse/duckdb/warehouse.ts";
import { servicesUp } from "../../dev/services.ts";

Deno.test("S3Lake and LocalLake list the same keys and folders, from any startAfter", async () => {
  const restore = setLogSink({ write() {} });
  const services = await servicesUp();
  const topic = `it-listing-${crypto.randomUUID().slice(0, 8)}`;
  const dir = await Deno.makeTempDir({ prefix: "listing-" });
  const s3 = new S3Lake({
    bucket: services.S3_BUCKET,
    endpoint: services.S3_ENDPOINT,
    accessKeyId: services.AWS_ACCESS_KEY_ID,
    secretAccessKey: services.AWS_SECRET_ACCESS_KEY,
  });
  const local = new LocalLake(`${dir}/lake`);
  try {
    const keys: string[] = [];
    for (const day of ["2026-11-19", "2026-11-20"]) {
      for (const stream of ["embedded:a", "kafka:b"]) {
        for (let i = 0; i < 30; i++) {
          keys.push(eventKey(day, {
            streamId: stream,
            topic,
            partition: i % 3,
            firstOffset: i * 10,
            lastOffset: i * 10 + 9,
          }));
        }
      }
    }
    // A key of the layout before, and one beside a folder of the same name.
    keys.push(`${topic}/symbol=AAPL/date=2026-11-18/x.ndjson.gz`);
    keys.push(`${topic}/dt=2026-11-20+note.txt`);
    for (const key of keys) {
      const body = await encodeLines([key]);
      await Promise.all([s3.put(key, body), local.put(key, body)]);
    }
    const sorted = keys.toSorted();
    const both = async <T>(
      read: (lake: Lake) => AsyncIterable<T>,
    ): Promise<T[]> => {
      const [a, b] = await Promise.all([
        Array.fromAsync(read(s3)),
        Array.fromAsync(read(local)),
      ]);
      assert.deepEqual(a, b);
      return a;
    };
    const keysOf = (prefix: string, options?: ListOptions) =>
      both(async function* (lake) {
        for await (const o of lake.list(prefix, options)) yield o.key;
      });
    assert.deepEqual(await keysOf(`${topic}/`), sorted);
    for (
      const after of [
        sorted[0],
        sorted[17],
        sorted[61],
        `${topic}/dt=2026-11-20`,
        `${topic}/dt=2026-11-20/partition=1/`,
        `${topic}/zzz`,
      ]
    ) {
      assert.deepEqual(
        await keysOf(`${topic}/`, { startAfter: after }),
        sorted.filter((key) => key > after),
        `after ${after}`,
      );
    }
    assert.deepEqual(await both((lake) => lake.folders(`${topic}/`)), [
      `${topic}/dt=2026-11-19/`,
      `${topic}/dt=2026-11-20/`,
      `${topic}/symbol=AAPL/`,
    ]);
    assert.deepEqual(
      await both((lake) =>
        lake.folders(`${topic}/`, { startAfter: `${topic}/dt=2026-11-19` })
      ),
      [
        `${topic}/dt=2026-11-19/`,
        `${topic}/dt=2026-11-20/`,
        `${topic}/symbol=AAPL/`,
      ],
    );
    assert.deepEqual(
      await both((lake) => lake.folders(`${topic}/dt=2026-11-20/`)),
      [0, 1, 2].map((p) => `${topic}/dt=2026-11-20/partition=${p}/`),
    );
  } finally {
    s3.close();
    restore();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("discovery loads from the bucket only what landed after its marks", async () => {
  const restore = setLogSink({ write() {} });
  const services = await servicesUp();
  const topic = `it-discovery-${crypto.randomUUID().slice(0, 8)}`;
  const dir = await Deno.makeTempDir({ prefix: "discovery-" });
  const lake = new S3Lake({
    bucket: services.S3_BUCKET,
    endpoint: services.S3_ENDPOINT,
    accessKeyId: services.AWS_ACCESS_KEY_ID,
    secretAccessKey: services.AWS_SECRET_ACCESS_KEY,
  });
  const warehouse = await DuckDBWarehouse.open(`${dir}/warehouse.duckdb`);
  const land = async (partition: number, first: number, last: number) => {
    const lines = [];
    for (let offset = first; offset <= last; offset++) {
      lines.push(JSON.stringify({
        symbol: "AAPL",
        c: 100,
        d: 1,
        dp: 1,
        h: 101,
        l: 99,
        o: 100,
        pc: 99,
        t: 1_764_000_000 + offset,
        fetched_at: (1_764_000_000 + offset) * 1000,
        source: "simulated",
        _stream: {
          id: "kafka:discovery",
          topic,
          partition,
          offset,
          timestamp: (1_764_000_000 + offset) * 1000,
        },
      }));
    }
    await lake.put(
      eventKey("2026-11-20", {
        streamId: "kafka:discovery",
        topic,
        partition,
        firstOffset: first,
        lastOffset: last,
      }),
      await encodeLines(lines),
    );
  };
  try {
    for (let i = 0; i < 40; i++) await land(i % 2, i * 5, i * 5 + 4);
    const load = () => loadNewObjects({ lake, warehouse, topic });
    // Each partition folder's last 8 keys are listed again (a mark stays 8
    // keys behind), and nothing else.
    assert.deepEqual(
      [(await load()).listed, (await load()).listed],
      [40, 16],
    );
    await land(0, 200, 204);
    await land(1, 200, 209);
    const totals = await load();
    assert.deepEqual([totals.listed, totals.files, totals.inserted], [
      18,
      2,
      15,
    ]);
  } finally {
    await warehouse.close();
    lake.close();
    restore();
    await Deno.remove(dir, { recursive: true });
  }
});
