import assert from "node:assert/strict";
import { join } from "node:path";
import { EmbeddedStream } from "../../lib/stream/embedded/stream.ts";
import type { StreamConsumer } from "../../lib/stream/stream.ts";
import { until } from "../_wait.ts";

const TOPIC = "stock-quotes";
const STREAM_MODULE = new URL(
  "../../lib/stream/embedded/stream.ts",
  import.meta.url,
);

function stream(dir: string): EmbeddedStream {
  return new EmbeddedStream({ dir, topic: TOPIC, pollIntervalMs: 5 });
}

/** Runs a consumer of `group` that counts what it reads. */
async function start(
  s: EmbeddedStream,
  group: string,
): Promise<
  { consumer: StreamConsumer; running: Promise<void>; seen: () => number }
> {
  const consumer = await s.consumer(group);
  let seen = 0;
  const running = consumer.run({
    onBatch(batch) {
      seen += batch.messages.length;
      return Promise.resolve();
    },
    onRevoked: () => Promise.resolve(),
  });
  return { consumer, running, seen: () => seen };
}

/** The message a second consumer of `group` gets while process `pid` runs one. */
function refusal(dir: string, group: string, pid: number): string {
  const topicDir = join(dir, TOPIC);
  return `Cannot run a consumer in group '${group}' of the embedded stream ${topicDir} as another consumer of the group is running (process ${pid}, lock ${
    join(topicDir, "offsets", `${group}.lock`)
  }): stop it first, or use another group`;
}

/** A child process running a consumer of `group` until killed; resolves once it runs. */
async function childConsumer(
  dir: string,
  group: string,
): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { EmbeddedStream } from "${STREAM_MODULE}";
       const consumer = await new EmbeddedStream({ dir: ${
        JSON.stringify(dir)
      }, topic: "${TOPIC}", pollIntervalMs: 5 }).consumer(${
        JSON.stringify(group)
      });
       const running = consumer.run({
         onBatch: () => Promise.resolve(),
         onRevoked: () => Promise.resolve(),
       });
       // Running once the group's lock file names this process.
       const lock = ${
        JSON.stringify(join(dir, TOPIC, "offsets", `${group}.lock`))
      };
       for (let i = 0; ; i++) {
         const holder = await Deno.readTextFile(lock).catch(() => "");
         if (holder.trim() === String(Deno.pid)) break;
         if (i === 2000) throw new Error("the lock never named this process");
         await new Promise((resolve) => setTimeout(resolve, 5));
       }
       console.log("running");
       await running;`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
    out += text;
    if (out.includes("running\n")) return child;
  }
  await child.status;
  throw new Error(
    `The child consumer exited before running: ${await new Response(
      child.stderr,
    ).text()}`,
  );
}

Deno.test("EmbeddedStream refuses a second running consumer of a group in the same process, not one of another group", async () => {
  const dir = await Deno.makeTempDir();
  const s = stream(dir);
  const producer = await s.producer();
  await producer.send([{ key: "AAPL", value: "a" }, {
    key: "MSFT",
    value: "b",
  }]);
  await producer.close();

  const first = await start(s, "g");
  await until(() => first.seen() === 2, { what: "2 messages" });
  const second = await s.consumer("g");
  await assert.rejects(
    () =>
      second.run({
        onBatch: () => Promise.reject(new Error("read by the second consumer")),
        onRevoked: () => Promise.resolve(),
      }),
    new Error(refusal(dir, "g", Deno.pid)),
  );
  // Offsets can still be read while it runs, as reconcile does.
  assert.equal((await second.endOffsets()).length, 3);

  const other = await start(s, "h");
  await until(() => other.seen() === 2, { what: "2 messages in group h" });
  for (const { consumer, running } of [first, other]) {
    await consumer.stop();
    await running;
  }

  // Once the first has stopped, the group can run again.
  const again = await start(s, "g");
  await until(() => again.seen() === 2, { what: "2 messages again" });
  await again.consumer.stop();
  await again.running;
  await Deno.remove(dir, { recursive: true });
});

Deno.test("EmbeddedStream refuses a second running consumer of a group in another process, naming the process holding it, until that process dies", async () => {
  const dir = await Deno.makeTempDir();
  await stream(dir).ensureTopic();

  // Another process holds the group: this one is refused.
  const child = await childConsumer(dir, "g");
  const consumer = await stream(dir).consumer("g");
  await assert.rejects(
    () =>
      consumer.run({
        onBatch: () => Promise.resolve(),
        onRevoked: () => Promise.resolve(),
      }),
    new Error(refusal(dir, "g", child.pid)),
  );
  // A crash releases it.
  child.kill("SIGKILL");
  await child.status;
  await child.stderr.cancel();
  const mine = await start(stream(dir), "g");

  // This process holds the group: another one is refused, and says why.
  const refused = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { EmbeddedStream } from "${STREAM_MODULE}";
       const consumer = await new EmbeddedStream({ dir: ${
        JSON.stringify(dir)
      }, topic: "${TOPIC}" }).consumer("g");
       await consumer.run({
         onBatch: () => Promise.resolve(),
         onRevoked: () => Promise.resolve(),
       });`,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(refused.success, false);
  assert.ok(
    new TextDecoder().decode(refused.stderr).includes(
      refusal(dir, "g", Deno.pid),
    ),
    new TextDecoder().decode(refused.stderr),
  );
  await mine.consumer.stop();
  await mine.running;
  await Deno.remove(dir, { recursive: true });
});
