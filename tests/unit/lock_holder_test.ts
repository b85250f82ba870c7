import assert from "node:assert/strict";
import {
  describeHolder,
  lockHolder,
} from "../../lib/warehouse/duckdb/lock_holder.ts";
import { DuckDBWarehouse } from "../../lib/warehouse/duckdb/warehouse.ts";
import { setLogSink } from "../../lib/runtime/log.ts";
import { startReader } from "../_reader.ts";
import { until } from "../_wait.ts";

Deno.test("lockHolder() reads the program and PID DuckDB names, and nothing from other errors", () => {
  const message =
    'IO Error: Could not set lock on file "/data/warehouse.duckdb": Conflicting lock is held in /usr/bin/python3.11 (PID 2147483000) by user ana. See also https://duckdb.org/docs/stable/connect/concurrency';
  // No such process: no command line to add.
  assert.deepEqual(lockHolder(message), {
    pid: 2147483000,
    program: "/usr/bin/python3.11",
  });
  assert.equal(
    describeHolder(lockHolder(message)),
    "PID 2147483000 (/usr/bin/python3.11)",
  );
  assert.equal(
    lockHolder('IO Error: Could not set lock on file "/x.duckdb"'),
    undefined,
  );
  assert.equal(describeHolder(undefined), "another process");
  assert.equal(lockHolder("Catalog Error: Table does not exist"), undefined);
});

Deno.test(
  "lockHolder() adds the holder's command line when the system shows it",
  {
    ignore: Deno.build.os !== "linux",
  },
  () => {
    const holder = lockHolder(
      `Conflicting lock is held in ${Deno.execPath()} (PID ${Deno.pid}).`,
    );
    assert.equal(holder?.pid, Deno.pid);
    assert.match(holder?.commandLine ?? "", /deno.* test/);
  },
);

Deno.test("lockHolder() keeps a holder's command line on one line", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  // A session started as `python -c "<several lines>"`, say.
  const child = new Deno.Command("sh", {
    args: ["-c", "sleep 30\n# second line", "x"],
    stdout: "null",
  }).spawn();
  try {
    const held = () =>
      lockHolder(`Conflicting lock is held in /bin/sh (PID ${child.pid}).`);
    await until(() => held()?.commandLine?.includes(" -c ") === true, {
      what: "the child to run sh",
    });
    const holder = held();
    assert.match(
      holder?.commandLine ?? "",
      /^\S*sh -c sleep 30 # second line x$/,
    );
    assert.match(
      describeHolder(holder),
      new RegExp(
        `^PID ${child.pid} \\(/bin/sh: \\S*sh -c sleep 30 # second line x\\)$`,
      ),
    );
  } finally {
    child.kill();
    await child.status;
  }
});

Deno.test("DuckDBWarehouse.open() names the reader holding the file, in one waiting line and in its error, and points at the gold copy", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/warehouse.duckdb`;
  await (await DuckDBWarehouse.open(db)).close();
  // An analyst's session: the file opened read-only, and kept open.
  const reader = await startReader(db);
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  try {
    const error = await DuckDBWarehouse.open(db, { lockWaitMs: 1_500 }).then(
      () => assert.fail("opened a file a reader holds"),
      (error: Error) => error,
    );
    assert.match(
      error.message,
      new RegExp(
        `^Cannot open the DuckDB warehouse ${db} as PID ${reader.pid} \\(\\S*deno\\S*: \\S*deno run --allow-all \\S*_reader\\.ts ${db}\\) has held its lock for \\d+ ms: a reader should open the gold copy ${dir}/gold_copy\\.duckdb instead`,
      ),
    );
    // One line when the wait starts (the next would come 10 s later), naming the holder.
    const waiting = lines.filter((line) => /waiting for the DuckDB/.test(line));
    assert.equal(waiting.length, 1, waiting.join("\n"));
    assert.match(waiting[0], /msg="waiting for the DuckDB file's lock"/);
    assert.match(waiting[0], new RegExp(` holder_pid=${reader.pid} `));
    assert.match(waiting[0], / holder_program=\S*deno /);
    assert.match(waiting[0], / holder_command="\S*deno run .*_reader\.ts /);
  } finally {
    restore();
    await reader.close();
  }
  // The reader gone, the file opens at once.
  await (await DuckDBWarehouse.open(db, { lockWaitMs: 0 })).close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("DuckDBWarehouse.open() logs when it gets a lock it waited for", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/warehouse.duckdb`;
  await (await DuckDBWarehouse.open(db)).close();
  const reader = await startReader(db);
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  try {
    const opening = DuckDBWarehouse.open(db, { lockWaitMs: 20_000 });
    // The reader leaves once the writer has said it waits for it.
    await until(
      () => lines.some((line) => /waiting for the DuckDB/.test(line)),
      {
        what: "the waiting line",
      },
    );
    await reader.close();
    await (await opening).close();
    assert.match(
      lines.at(-1)!,
      /msg="got the DuckDB file's lock" .*waited_ms=\d+/,
    );
  } finally {
    restore();
  }
  await Deno.remove(dir, { recursive: true });
});
