/**
 * The Snowflake warehouse, statement by statement, through a recording
 * session (no Snowflake account is reachable here): its DDL, the PUT and COPY
 * statements and their quoting, FILES lists of at most 1,000, the ledger
 * written only after a successful COPY, and its error paths. Then the real
 * driver (`npm:snowflake-sdk`) against an unknown account and against a
 * local endpoint that refuses the credentials as Snowflake does, and a live
 * test that runs only when SNOWFLAKE_ACCOUNT is set.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, createVerify, generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { eventKey } from "../../lib/lake/keys.ts";
import type { LakeObject } from "../../lib/lake/lake.ts";
import { encodeLines } from "../../lib/lake/ndjson.ts";
import { LocalLake } from "../../lib/lake/local.ts";
import { loadNewObjects } from "../../lib/load/loader.ts";
import { setLogSink } from "../../lib/runtime/log.ts";
import { CoordinateClashError } from "../../lib/warehouse/warehouse.ts";
import { readLatestQuotes } from "../../lib/warehouse/snowflake/latest.ts";
import type {
  SnowflakeSession,
  StatementResult,
} from "../../lib/warehouse/snowflake/session.ts";
import {
  MAX_FILES_PER_COPY,
  SnowflakeLoadError,
  SnowflakeWarehouse,
  type SnowflakeWarehouseOptions,
} from "../../lib/warehouse/snowflake/warehouse.ts";
import { run } from "../_helpers.ts";

interface Statement {
  sql: string;
  binds: (string | number)[];
}

type Answer = (
  statement: Statement,
) => Record<string, unknown>[] | Error | undefined;

/**
 * Records every statement and answers as Snowflake would for the ones the
 * warehouse reads: COPY reports each file of its FILES list as loaded, PUT
 * as uploaded, no clashes, every parsed row inserted. `answer` overrides.
 */
class RecordingSession implements SnowflakeSession {
  readonly location = "snowflake://recording/STOCKS";
  readonly statements: Statement[] = [];
  closed = false;
  #answer: Answer;

  constructor(answer: Answer = () => undefined) {
    this.#answer = answer;
  }

  execute(
    sql: string,
    binds: (string | number)[] = [],
  ): Promise<StatementResult> {
    const statement = { sql, binds };
    this.statements.push(statement);
    const answer = this.#answer(statement) ?? defaultAnswer(statement);
    if (answer instanceof Error) return Promise.reject(answer);
    return Promise.resolve({
      rows: answer,
      queryId: `q${this.statements.length}`,
    });
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** Statements whose text starts with `prefix` (case-insensitive). */
  find(prefix: string): Statement[] {
    return this.statements.filter((s) =>
      s.sql.trim().toLowerCase().startsWith(prefix.toLowerCase())
    );
  }
}

const LINES_PER_OBJECT = 2;

function defaultAnswer(
  { sql, binds }: Statement,
): Record<string, unknown>[] {
  const text = sql.trim().toLowerCase();
  if (text.startsWith("put ")) {
    return [{ source: "x", target: "x", status: "UPLOADED", message: "" }];
  }
  if (text.startsWith("copy into")) {
    return filesOf(sql).map((file) => ({
      file,
      status: "LOADED",
      rows_parsed: LINES_PER_OBJECT,
      rows_loaded: LINES_PER_OBJECT,
      errors_seen: 0,
      first_error: null,
      first_error_line: null,
    }));
  }
  if (text.startsWith("with") && text.includes("clashing")) {
    return [{ CLASHES: 0, EXAMPLE: null }];
  }
  if (text.startsWith("select file_name, sum(inserted)")) {
    // Every staged row of the batch (the last CLEAR-able keys) was new.
    return lastKeys.map((file) => ({
      FILE_NAME: file,
      INSERTED: LINES_PER_OBJECT,
      REJECTED: 0,
    }));
  }
  if (text.includes("flatten") && binds.length > 0) {
    const keys = binds.find((b) => typeof b === "string" && b.startsWith("["));
    if (keys) lastKeys = JSON.parse(keys as string);
  }
  return [];
}

let lastKeys: string[] = [];

/** The file names of a COPY's FILES list. */
function filesOf(sql: string): string[] {
  const list = /files = \(([^)]*)\)/.exec(sql)?.[1] ?? "";
  return [...list.matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]);
}

const T = Date.UTC(2026, 10, 20, 14, 30) / 1000;

/** A lake of `n` objects of two lines each, AAPL and BRK.B, one partition each. */
async function lakeOf(n: number, dir: string, topic = "stock-quotes") {
  const lake = new LocalLake(join(dir, "lake"));
  const objects: LakeObject[] = [];
  for (let i = 0; i < n; i++) {
    const symbol = i % 2 === 0 ? "AAPL" : "BRK.B";
    const offsets = [i * 2, i * 2 + 1];
    const key = eventKey("2026-11-20", {
      streamId: "kafka:cluster-1",
      topic,
      partition: i % 2,
      firstOffset: offsets[0],
      lastOffset: offsets[1],
    });
    const body = await encodeLines(offsets.map((offset) =>
      JSON.stringify({
        symbol,
        c: 100,
        d: 1,
        dp: 1,
        h: 101,
        l: 99,
        o: 100,
        pc: 99,
        t: T + offset,
        fetched_at: (T + offset) * 1000,
        source: "simulated",
        _stream: {
          id: "kafka:cluster-1",
          topic,
          partition: i % 2,
          offset,
          timestamp: (T + offset) * 1000,
        },
      })
    ));
    await lake.put(key, body);
    objects.push({ key, size: body.length });
  }
  return { lake, objects };
}

async function openRecorded(
  session: RecordingSession,
  options: Partial<SnowflakeWarehouseOptions> = {},
) {
  return await SnowflakeWarehouse.open(session, {
    stage: "internal",
    onError: "CONTINUE",
    ...options,
  });
}

function quiet() {
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  return { lines, restore };
}

Deno.test("open() creates RAW as the DuckDB warehouse has it, its file format and the internal or external stage", async () => {
  const internal = new RecordingSession();
  await openRecorded(internal);
  const ddl = internal.statements.map((s) => s.sql.replace(/\s+/g, " "));
  assert.equal(ddl[0], "create schema if not exists RAW");
  const raw = ddl.find((s) => s.includes("RAW.SOURCE_STOCK_QUOTES")) ?? "";
  for (
    const column of [
      "v variant not null",
      "stream_id varchar not null",
      "stream_topic varchar not null",
      "stream_partition integer not null",
      "stream_offset bigint not null",
      "stream_timestamp timestamp_tz not null",
      "file_name varchar not null",
      "loaded_at timestamp_tz not null",
      "primary key (stream_id, stream_topic, stream_partition, stream_offset)",
    ]
  ) assert.ok(raw.includes(column), column);
  assert.ok(
    ddl.some((s) => s.startsWith("create table if not exists RAW.LOAD_LEDGER")),
  );
  assert.ok(
    ddl.some((s) =>
      s.startsWith("create table if not exists RAW.REJECTED_STOCK_QUOTES")
    ),
  );
  assert.ok(
    ddl.some((s) =>
      s.startsWith(
        "create transient table if not exists RAW.STAGED_STOCK_QUOTES",
      )
    ),
  );
  assert.ok(
    ddl.includes(
      "create file format if not exists RAW.LAKE_JSON type = json compression = gzip",
    ),
  );
  assert.equal(
    ddl.at(-1),
    "create stage if not exists RAW.LAKE_STAGE file_format = (format_name = 'RAW.LAKE_JSON')",
  );
  assert.ok(ddl.every((s) => s.includes("if not exists")), "idempotent");
  // The dbt emulator (dev/snowflake_emulator.py) builds on the same table.
  const emulator = await Deno.readTextFile(
    new URL("../../dev/snowflake_emulator.py", import.meta.url),
  );
  const emulated = /CREATE_RAW = """([^"]*)"""/.exec(emulator)?.[1] ?? "";
  assert.equal(emulated.replace(/\s+/g, " ").trim(), raw);

  const external = new RecordingSession();
  await openRecorded(external, {
    stage: "external",
    bucket: "stock-quotes",
    storageIntegration: "LAKE_S3",
  });
  assert.equal(
    external.statements.at(-1)?.sql,
    "create stage if not exists RAW.LAKE_BUCKET url = 's3://stock-quotes/' storage_integration = LAKE_S3 file_format = (format_name = 'RAW.LAKE_JSON')",
  );
  await assert.rejects(
    openRecorded(new RecordingSession(), { stage: "external", bucket: "b" }),
    /needs S3_BUCKET and SNOWFLAKE_STORAGE_INTEGRATION/,
  );
  await assert.rejects(
    openRecorded(new RecordingSession(), {
      stage: "external",
      bucket: "b",
      storageIntegration: "x; drop table y",
    }),
    /as a Snowflake identifier/,
  );
});

Deno.test("an internal-stage load PUTs each object unchanged under its key, one quoted PUT per prefix, before the transaction", async () => {
  const { restore } = quiet();
  const dir = await Deno.makeTempDir();
  // A temporary directory with a quote in its name: PUT's path must escape it.
  const tempDir = join(dir, "it's");
  await Deno.mkdir(tempDir);
  const { lake, objects } = await lakeOf(4, dir);
  const session = new RecordingSession((s) => {
    if (s.sql.startsWith("put ")) {
      // The files are where PUT points, byte for byte the lake's objects.
      const path = s.sql.slice("put 'file://".length, s.sql.indexOf("/*' '@"))
        .replaceAll("\\'", "'");
      for (
        const object of objects.filter((o) =>
          path.endsWith(o.key.slice(0, o.key.lastIndexOf("/")))
        )
      ) {
        const name = object.key.slice(object.key.lastIndexOf("/") + 1);
        const bytes = Deno.readFileSync(join(path, name));
        assert.equal(bytes.length, object.size);
      }
    }
    return undefined;
  });
  const warehouse = await openRecorded(session, { tempDir });
  session.statements.length = 0;
  const result = await warehouse.load({ lake, objects, reload: false });
  assert.deepEqual(result, {
    files: 4,
    rows: 8,
    inserted: 8,
    duplicates: 0,
    rejected: 0,
  });
  const puts = session.find("put ");
  assert.equal(puts.length, 2, "two prefixes: partitions 0 and 1");
  for (const put of puts) {
    assert.match(
      put.sql,
      /^put 'file:\/\/\/.*\/it\\'s\/snowflake-put-[^/]+\/stock-quotes\/dt=2026-11-20\/partition=[01]\/\*' '@RAW\.LAKE_STAGE\/stock-quotes\/dt=2026-11-20\/partition=[01]\/' auto_compress = false source_compression = gzip overwrite = true parallel = 4$/,
    );
  }
  const order = session.statements.map((s) => s.sql.trim().split(/\s+/)[0]);
  assert.ok(order.lastIndexOf("put") < order.indexOf("begin"));
  assert.equal(order.at(-1), "commit");
  // The PUT directory is gone afterwards.
  assert.deepEqual([...Deno.readDirSync(tempDir)], []);
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("COPY names at most 1,000 files, each once, with ON_ERROR as configured, FORCE only on reload and PURGE only on the internal stage", async () => {
  const { restore } = quiet();
  const dir = await Deno.makeTempDir();
  const { lake, objects } = await lakeOf(2_500, dir);
  for (const stage of ["internal", "external"] as const) {
    for (const reload of [false, true]) {
      const session = new RecordingSession();
      const warehouse = await openRecorded(session, {
        stage,
        onError: "SKIP_FILE",
        bucket: "stock-quotes",
        storageIntegration: "LAKE_S3",
      });
      session.statements.length = 0;
      const result = await warehouse.load({ lake, objects, reload });
      assert.equal(result.files, 2_500);
      const copies = session.find("copy into");
      assert.deepEqual(copies.map((c) => filesOf(c.sql).length), [
        1_000,
        1_000,
        500,
      ]);
      assert.deepEqual(
        copies.flatMap((c) => filesOf(c.sql)),
        objects.map((o) => o.key),
      );
      for (const copy of copies) {
        assert.match(
          copy.sql,
          /^copy into RAW\.STAGED_STOCK_QUOTES \(v, file_name, file_row_number\)\nfrom \(select \$1, metadata\$filename, metadata\$file_row_number from @RAW\.LAKE_(STAGE|BUCKET)\)/,
        );
        assert.ok(
          copy.sql.includes(
            `@RAW.LAKE_${stage === "internal" ? "STAGE" : "BUCKET"})`,
          ),
        );
        assert.ok(copy.sql.includes("on_error = SKIP_FILE"));
        assert.equal(copy.sql.includes("force = true"), reload, "force");
        assert.equal(
          copy.sql.includes("purge = true"),
          stage === "internal",
          "purge",
        );
      }
      assert.equal(
        session.find("put ").length > 0,
        stage === "internal",
        "PUT",
      );
    }
  }
  assert.ok(MAX_FILES_PER_COPY === 1_000);
  await assert.rejects(
    SnowflakeWarehouse.open(new RecordingSession(), {
      stage: "internal",
      onError: "CONTINUE",
      filesPerCopy: 1_001,
    }),
    /a COPY names at most 1000 files/,
  );
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the ledger is written only after every COPY of the load succeeded, in the same transaction", async () => {
  const { restore } = quiet();
  const dir = await Deno.makeTempDir();
  const { lake, objects } = await lakeOf(1_500, dir);
  let copies = 0;
  const session = new RecordingSession((s) =>
    s.sql.startsWith("copy into") && ++copies === 2
      ? new Error(
        "Snowflake refused a statement (copy into …): warehouse suspended",
      )
      : undefined
  );
  const warehouse = await openRecorded(session, {
    stage: "external",
    bucket: "b",
    storageIntegration: "I",
  });
  session.statements.length = 0;
  await assert.rejects(
    warehouse.load({ lake, objects, reload: false }),
    /warehouse suspended/,
  );
  const verbs = session.statements.map((s) =>
    s.sql.trim().split(/\s+/).slice(0, 3).join(" ")
  );
  assert.deepEqual(verbs, [
    "begin",
    "copy into RAW.STAGED_STOCK_QUOTES",
    "copy into RAW.STAGED_STOCK_QUOTES",
    "rollback",
  ]);
  assert.equal(session.find("insert into RAW.LOAD_LEDGER").length, 0);

  // A successful load: COPY, the checks and inserts, then the ledger, then commit.
  const ok = new RecordingSession();
  const loaded = await openRecorded(ok, {
    stage: "external",
    bucket: "b",
    storageIntegration: "I",
  });
  ok.statements.length = 0;
  await loaded.load({ lake, objects: objects.slice(0, 3), reload: false });
  const steps = ok.statements.map((s) => {
    const text = s.sql.trim().replace(/\s+/g, " ");
    if (text.startsWith("insert into RAW.LOAD_LEDGER")) return "ledger";
    if (text.startsWith("insert into RAW.SOURCE_STOCK_QUOTES")) return "insert";
    if (text.startsWith("insert into RAW.LOADED_RANGES")) return "ranges";
    if (text.startsWith("insert into RAW.REJECTED_STOCK_QUOTES")) {
      return "reject";
    }
    if (text.startsWith("delete from RAW.STAGED_STOCK_QUOTES")) return "clear";
    if (text.includes("clashing")) return "clashes";
    if (text.startsWith("select file_name, sum(inserted)")) return "counts";
    return text.split(" ")[0];
  });
  assert.deepEqual(steps, [
    "begin",
    "copy",
    "clashes",
    "reject",
    "insert",
    "ranges",
    "counts",
    "ledger",
    "clear",
    "commit",
  ]);
  // Loaded rows are found by the loaded ranges, pruned by the batch's
  // offsets; a reload reads RAW itself.
  const insert = ok.find("insert into RAW.SOURCE_STOCK_QUOTES")[0];
  assert.match(insert.sql, /from RAW\.LOADED_RANGES as loaded/);
  assert.doesNotMatch(insert.sql, /from RAW\.SOURCE_STOCK_QUOTES as loaded/);
  const ledger = JSON.parse(
    String(ok.find("insert into RAW.LOAD_LEDGER")[0].binds[1]),
  );
  assert.deepEqual(ledger[0], {
    file: objects[0].key,
    size: objects[0].size,
    rows: 2,
    inserted: 2,
    duplicate: 0,
    rejected: 0,
  });
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("COPY's per-file refusals are logged, counted in the ledger and kept in the reject table", async () => {
  const { lines, restore } = quiet();
  const dir = await Deno.makeTempDir();
  const { lake, objects } = await lakeOf(2, dir);
  const session = new RecordingSession((s) =>
    s.sql.startsWith("copy into")
      ? [
        {
          file: objects[0].key,
          status: "LOADED",
          rows_parsed: 2,
          rows_loaded: 2,
          errors_seen: 0,
          first_error: null,
          first_error_line: null,
        },
        {
          file: objects[1].key,
          status: "PARTIALLY_LOADED",
          rows_parsed: 2,
          rows_loaded: 1,
          errors_seen: 1,
          first_error: 'Error parsing JSON: unknown keyword "nul"',
          first_error_line: 2,
        },
      ]
      : s.sql.trim().startsWith("select file_name, sum(inserted)")
      ? [
        { FILE_NAME: objects[0].key, INSERTED: 2, REJECTED: 0 },
        { FILE_NAME: objects[1].key, INSERTED: 1, REJECTED: 0 },
      ]
      : undefined
  );
  const warehouse = await openRecorded(session, {
    stage: "external",
    bucket: "b",
    storageIntegration: "I",
  });
  const result = await warehouse.load({ lake, objects, reload: false });
  assert.deepEqual(result, {
    files: 2,
    rows: 4,
    inserted: 3,
    duplicates: 0,
    rejected: 1,
  });
  const warning =
    lines.find((l) => l.includes("COPY refused lines of a file")) ?? "";
  for (
    const field of [
      "status=PARTIALLY_LOADED",
      "rows_parsed=2",
      "rows_loaded=1",
      "errors=1",
      "first_error_line=2",
    ]
  ) {
    assert.ok(warning.includes(field), `${field} in ${warning}`);
  }
  const [refusals] = session.statements.filter((s) =>
    s.sql.includes("refusal.value")
  );
  assert.deepEqual(JSON.parse(String(refusals.binds[1])), [{
    file: objects[1].key,
    line: 2,
    rule:
      'COPY refused 1 line(s); first: Error parsing JSON: unknown keyword "nul"',
  }]);
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("coordinates reused by other events roll the load back with a CoordinateClashError", async () => {
  const { restore } = quiet();
  const dir = await Deno.makeTempDir();
  const { lake, objects } = await lakeOf(2, dir);
  const session = new RecordingSession((s) =>
    s.sql.includes("clashing")
      ? [{
        CLASHES: 1,
        EXAMPLE: "kafka:cluster-1 stock-quotes partition 0 offset 0",
      }]
      : undefined
  );
  const warehouse = await openRecorded(session, {
    stage: "external",
    bucket: "b",
    storageIntegration: "I",
  });
  await assert.rejects(
    warehouse.load({ lake, objects, reload: false }),
    (error: Error) =>
      error instanceof CoordinateClashError &&
      /partition 0 offset 0/.test(error.message),
  );
  assert.equal(session.statements.at(-1)?.sql, "rollback");
  assert.equal(session.find("insert into RAW.SOURCE_STOCK_QUOTES").length, 0);
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("data travels as binds; a name that is not a lake key never reaches a statement", async () => {
  const { restore } = quiet();
  const dir = await Deno.makeTempDir();
  const { lake, objects } = await lakeOf(2, dir);
  const session = new RecordingSession();
  const warehouse = await openRecorded(session, {
    stage: "external",
    bucket: "b",
    storageIntegration: "I",
  });
  session.statements.length = 0;
  await warehouse.load({ lake, objects, reload: false });
  for (const statement of session.statements) {
    if (statement.sql.startsWith("copy into")) continue;
    for (const object of objects) {
      assert.ok(
        !statement.sql.includes(object.key),
        `${statement.sql.slice(0, 40)} holds no key`,
      );
    }
  }
  for (
    const key of [
      "stock-quotes/symbol=X/date=2026-11-20/a'); drop table RAW.LOAD_LEDGER; --",
      "stock-quotes/../../etc/passwd",
      "stock-quotes/symbol=É/x",
    ]
  ) {
    const before = session.statements.length;
    await assert.rejects(
      warehouse.load({ lake, objects: [{ key, size: 1 }], reload: false }),
      (error: Error) =>
        error instanceof SnowflakeLoadError &&
        /is not a name a Snowflake stage path or file list may hold/.test(
          error.message,
        ),
    );
    assert.equal(session.statements.length, before, "no statement ran");
  }
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadNewObjects drives the Snowflake warehouse as it drives DuckDB: only objects the ledger lacks", async () => {
  const { restore } = quiet();
  const dir = await Deno.makeTempDir();
  const { lake, objects } = await lakeOf(6, dir);
  const loaded = new Set(objects.slice(0, 4).map((o) => o.key));
  const session = new RecordingSession((s) =>
    s.sql.includes("not in (select file_name from RAW.LOAD_LEDGER")
      ? (JSON.parse(String(s.binds[0])) as string[])
        .filter((key) => !loaded.has(key))
        .map((key) => ({ FILE_NAME: key }))
      : undefined
  );
  const warehouse = await openRecorded(session, {
    stage: "external",
    bucket: "b",
    storageIntegration: "I",
  });
  const totals = await loadNewObjects({
    lake,
    warehouse,
    topic: "stock-quotes",
  });
  assert.equal(totals.listed, 6);
  assert.equal(totals.files, 2);
  assert.deepEqual(
    session.find("copy into").flatMap((c) => filesOf(c.sql)).sort(),
    objects.slice(4).map((o) => o.key).sort(),
  );
  // The keys were compared with the ledger in one statement, never read out
  // whole; the first load of the topic records its sweep (and no mark yet:
  // a mark stays 8 keys behind the last of a folder, and there are 6).
  assert.equal(session.find("select file_name from RAW.LOAD_LEDGER").length, 0);
  assert.equal(session.find("merge into RAW.LOAD_SWEEPS").length, 1);
  assert.equal(session.find("merge into RAW.LOAD_MARKS").length, 0);
  await warehouse.close();
  assert.ok(session.closed);
  restore();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("readLatestQuotes() reads each symbol's latest quote from GOLD.GOLD_LATEST_KPI, and none before dbt built it", async () => {
  let built = 0;
  const session = new RecordingSession((s) => {
    if (s.sql.includes("information_schema.tables")) return [{ N: built }];
    if (s.sql.includes("GOLD.GOLD_LATEST_KPI")) {
      return [
        {
          SYMBOL: "AAPL",
          PRICE: 191.5,
          T: 1795000007,
          DAY_OPEN: 190,
          DAY_HIGH: 192.25,
          DAY_LOW: 189.5,
          PREV_CLOSE: 188,
        },
        // not asked for
        {
          SYMBOL: "MSFT",
          PRICE: 420,
          T: 1795000007,
          DAY_OPEN: 419,
          DAY_HIGH: 421,
          DAY_LOW: 418,
          PREV_CLOSE: 417,
        },
        // a figure missing
        {
          SYMBOL: "TSLA",
          PRICE: null,
          T: 1795000007,
          DAY_OPEN: 250,
          DAY_HIGH: 251,
          DAY_LOW: 249,
          PREV_CLOSE: 248,
        },
      ];
    }
    return undefined;
  });
  assert.deepEqual(
    await readLatestQuotes(session, ["AAPL", "TSLA"]),
    new Map(),
  );
  assert.equal(session.statements.length, 1, "no read before dbt built it");
  built = 1;
  assert.deepEqual(
    await readLatestQuotes(session, ["AAPL", "TSLA"]),
    new Map([["AAPL", {
      symbol: "AAPL",
      c: 191.5,
      o: 190,
      h: 192.25,
      l: 189.5,
      pc: 188,
      t: 1795000007,
    }]]),
  );
  assert.match(
    session.statements.at(-1)!.sql,
    /date_part\(epoch_second, quote_ts\)[\s\S]*from GOLD\.GOLD_LATEST_KPI$/,
  );
});

/**
 * A local endpoint that answers Snowflake's login request as Snowflake does
 * for bad credentials, keeping each request's body.
 */
function refusingEndpoint() {
  const logins: Record<string, unknown>[] = [];
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    async (request) => {
      const url = new URL(request.url);
      if (url.pathname !== "/session/v1/login-request") {
        return new Response("not found", { status: 404 });
      }
      const body = request.headers.get("content-encoding") === "gzip"
        ? request.body!.pipeThrough(new DecompressionStream("gzip"))
        : request.body!;
      logins.push((await new Response(body).json()).data);
      return Response.json({
        data: { nextAction: null, authnMethod: "USERNAME_PASSWORD" },
        code: "390100",
        message: "Incorrect username or password was specified.",
        success: false,
        headers: null,
      });
    },
  );
  return { server, logins };
}

const SENTINEL = "sentinel-snowflake-password-5e1a";

Deno.test("bad credentials or an unknown account stop the loader with one line and exit 1, no stack, no password", async () => {
  const { server, logins } = refusingEndpoint();
  const dir = await Deno.makeTempDir();
  try {
    const base = {
      WAREHOUSE: "snowflake",
      SNOWFLAKE_USER: "loader",
      SNOWFLAKE_PASSWORD: SENTINEL,
      LAKE_DIR: join(dir, "lake"),
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? dir,
    };
    const cases = [
      {
        env: {
          ...base,
          SNOWFLAKE_ACCOUNT: "myorg-stocks",
          SNOWFLAKE_ACCESS_URL: `http://127.0.0.1:${server.addr.port}`,
        },
        message:
          /Cannot connect to Snowflake account 'myorg-stocks' as user 'loader': Incorrect username or password was specified\. \(code 390100\)/,
      },
      {
        env: { ...base, SNOWFLAKE_ACCOUNT: "no-such-account-zz9" },
        message:
          /Cannot connect to Snowflake account 'no-such-account-zz9' as user 'loader': .*ENOTFOUND no-such-account-zz9\.snowflakecomputing\.com/,
      },
      {
        env: { ...base, SNOWFLAKE_ACCOUNT: "" },
        message:
          /Cannot use WAREHOUSE=snowflake as SNOWFLAKE_ACCOUNT and SNOWFLAKE_USER must be set/,
      },
    ];
    for (const { env, message } of cases) {
      const result = await run("loader.ts", [], env);
      assert.equal(result.code, 1, result.stderr);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0], /^ts=\S+ level=error component=main msg=/);
      assert.match(lines[0], message);
      assert.ok(!result.stderr.includes(SENTINEL), "no password");
      assert.ok(!result.stdout.includes(SENTINEL), "no password");
    }
    assert.equal(logins[0].PASSWORD, SENTINEL, "the password was offered");
    assert.equal(logins[0].LOGIN_NAME, "loader");
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("key-pair authentication signs Snowflake's JWT with the encrypted private key", async () => {
  const { server, logins } = refusingEndpoint();
  const dir = await Deno.makeTempDir();
  try {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "der" },
      privateKeyEncoding: {
        type: "pkcs8",
        format: "pem",
        cipher: "aes-256-cbc",
        passphrase: SENTINEL,
      },
    });
    const keyPath = join(dir, "loader_key.p8");
    await Deno.writeTextFile(keyPath, privateKey);
    const result = await run("loader.ts", [], {
      WAREHOUSE: "snowflake",
      SNOWFLAKE_ACCOUNT: "myorg-stocks",
      SNOWFLAKE_USER: "loader",
      SNOWFLAKE_PRIVATE_KEY_PATH: keyPath,
      SNOWFLAKE_PRIVATE_KEY_PASSPHRASE: SENTINEL,
      SNOWFLAKE_ACCESS_URL: `http://127.0.0.1:${server.addr.port}`,
      LAKE_DIR: join(dir, "lake"),
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? dir,
    });
    assert.equal(result.code, 1);
    assert.ok(!result.stderr.includes(SENTINEL), "no passphrase in the log");
    const [login] = logins;
    assert.equal(login.AUTHENTICATOR, "SNOWFLAKE_JWT");
    assert.equal(login.PASSWORD, undefined);
    const [header, payload, signature] = String(login.TOKEN).split(".");
    const claims = JSON.parse(
      atob(payload.replace(/-/g, "+").replace(/_/g, "/")),
    );
    // Snowflake's claims: issuer ACCOUNT.USER.SHA256:<public key fingerprint>.
    const fingerprint = createHash("sha256").update(publicKey).digest("base64");
    assert.equal(claims.iss, `MYORG-STOCKS.LOADER.SHA256:${fingerprint}`);
    assert.equal(claims.sub, "MYORG-STOCKS.LOADER");
    const verified = createVerify("RSA-SHA256")
      .update(`${header}.${payload}`)
      .verify(
        { key: publicKey, format: "der", type: "spki" },
        Buffer.from(signature, "base64url"),
      );
    assert.ok(verified, "the JWT is signed with the user's key");
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

const LIVE = Boolean(Deno.env.get("SNOWFLAKE_ACCOUNT"));

Deno.test({
  name:
    "live: a load into a real Snowflake account (runs when SNOWFLAKE_ACCOUNT is set)",
  ignore: !LIVE,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // A topic of its own, so every run loads new objects.
      const topic = `it-live-${crypto.randomUUID().slice(0, 8)}`;
      const { objects } = await lakeOf(4, dir, topic);
      assert.equal(objects.length, 4);
      const env = {
        ...Deno.env.toObject(),
        WAREHOUSE: "snowflake",
        SNOWFLAKE_STAGE: "internal",
        LAKE_DIR: join(dir, "lake"),
        KAFKA_TOPIC: topic,
      };
      delete (env as Record<string, string>).S3_BUCKET;
      const first = await run("loader.ts", [], env);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /load finished .*files=4 rows=8/);
      const again = await run("loader.ts", [], env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /load finished .*files=0/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
