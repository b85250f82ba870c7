/**
 * The Airflow DAGs (dags/) on real Airflow: apache-airflow 3.3.2 with its
 * Docker provider, pinned in requirements-airflow.txt and installed by this
 * test into the user cache (`~/.cache/stocks-pipeline/venv-airflow`).
 *
 * - Airflow's DagBag parses the DAG files; the DAGs' shape, settings and
 *   commands are checked against deno.json, dbt and docker-compose.yml.
 * - `airflow dags test` runs both DAGs on a SQLite metadata database.
 *   Their DockerOperators talk to tests/airflow/local_docker_engine.py, which speaks
 *   the Docker Engine API and runs each container as a local process, built
 *   from the image's Dockerfile (this machine has no Docker engine). So the
 *   DAGs' own commands, environment and connections really load the lake on
 *   the local MinIO and build dbt.
 */
import assert from "node:assert/strict";
import { DuckDBInstance } from "@duckdb/node-api";
import { dirname, join } from "node:path";
import { SETTINGS } from "../../lib/runtime/config.ts";
import { ensureVenv, venvBin } from "../../lib/transform/venv.ts";
import { type ServicesEnv, servicesUp } from "../../dev/services.ts";
import { toolVenv } from "../../dev/cache.ts";
import {
  composeJson,
  CREDENTIALS,
  dockerfile,
  type Project,
  ROOT,
} from "../_compose.ts";
import {
  assertSuccess,
  count,
  type Run,
  run,
  runProgram,
  snapshot,
  SYMBOLS,
} from "../_helpers.ts";

const VENV = toolVenv("airflow");
const DAGS = join(ROOT, "dags");

let installed: Promise<void> | undefined;

/** Airflow's virtualenv; installing it is part of the test, so a failure fails it. */
function airflowVenv(): Promise<void> {
  installed ??= ensureVenv(VENV, join(ROOT, "requirements-airflow.txt"));
  return installed;
}

/** The environment of an Airflow command: its virtualenv, home, DAGs and SQLite database. */
function airflowEnv(
  home: string,
  env: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: `${join(VENV, "bin")}:${Deno.env.get("PATH")}`,
    HOME: Deno.env.get("HOME") ?? home,
    AIRFLOW_HOME: home,
    AIRFLOW__CORE__DAGS_FOLDER: DAGS,
    AIRFLOW__CORE__LOAD_EXAMPLES: "false",
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: `sqlite:///${home}/airflow.db`,
    PYTHONDONTWRITEBYTECODE: "1",
    ...env,
  };
}

/** Runs a program of Airflow's virtualenv in a clean environment with its own AIRFLOW_HOME. */
async function airflow(
  program: string,
  args: string[],
  home: string,
  env: Record<string, string> = {},
): Promise<Run> {
  await airflowVenv();
  return await runProgram(join(VENV, "bin", program), args, {
    cwd: home,
    env: airflowEnv(home, env),
  });
}

interface Task {
  type: string;
  bases: string[];
  upstream: string[];
  downstream: string[];
  retries: number;
  retry_delay: number;
  retry_exponential_backoff: number;
  max_retry_delay: number | null;
  execution_timeout: number | null;
  pool: string;
  outlets: { name: string; uri: string }[];
  image: string;
  command: string[];
  environment: Record<string, string>;
  mounts: { Target: string; Source: string; Type: string }[];
  network_mode: string;
  docker_url: string;
  mount_tmp_dir: boolean;
  lake_conn_id: string | null;
  warehouse_conn_id: string | null;
}

interface Dag {
  schedule: string | null;
  timetable: string;
  max_active_runs: number;
  catchup: boolean;
  params: Record<string, { type: string[]; format?: string }>;
  tasks: Record<string, Task>;
}

/** What Airflow's DagBag makes of dags/, under the given Airflow environment. */
async function inspect(
  env: Record<string, string> = {},
): Promise<
  { import_errors: Record<string, string>; dags: Record<string, Dag> }
> {
  const home = await Deno.makeTempDir({ prefix: "airflow-home-" });
  try {
    const result = await airflow(
      "python",
      [join(ROOT, "tests", "airflow", "inspect_dags.py"), DAGS],
      home,
      env,
    );
    assertSuccess(result, "inspect_dags.py");
    return JSON.parse(result.stdout.trim().split("\n").pop() ?? "");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/** How an image runs a container, read from its Dockerfile. */
interface Image {
  entrypoint: string[];
  cmd: string[];
  workdir: string;
  env: Record<string, string>;
}

/** The images docker-compose.yml builds from a Dockerfile, by tag. */
async function builtImages(): Promise<Record<string, Image>> {
  const { services } = await composeJson<Project>(["config"]);
  const images: Record<string, Image> = {};
  for (const service of Object.values(services)) {
    if (!service.image || !service.build?.dockerfile) continue;
    const image: Image = { entrypoint: [], cmd: [], workdir: "/", env: {} };
    const file = join(service.build.context, service.build.dockerfile);
    // The stages up to the service's target; each stage builds on the one before.
    let stage: string | undefined;
    for (const [instruction, args] of await dockerfile(file)) {
      if (instruction === "FROM") {
        if (stage !== undefined && stage === service.build.target) break;
        stage = /\sAS\s+(\S+)$/i.exec(args)?.[1];
      }
      if (instruction === "ENTRYPOINT") image.entrypoint = JSON.parse(args);
      if (instruction === "CMD") image.cmd = JSON.parse(args);
      if (instruction === "WORKDIR") {
        image.workdir = args.startsWith("/") ? args : join(image.workdir, args);
      }
      if (instruction === "ENV") {
        for (const pair of args.split(/\s+/)) {
          const [name, ...value] = pair.split("=");
          image.env[name] = value.join("=");
        }
      }
    }
    images[service.image] = image;
  }
  return images;
}

/** The frequent dbt build (FREQUENT_BUILD in lib/transform/dbt.ts) on a target. */
function frequentBuild(target: string): string[] {
  return [
    "build",
    "--exclude",
    "tag:daily",
    "test_type:unit",
    "--vars",
    '{"data_test_window_minutes": 5}',
    "--target",
    target,
  ];
}

/** The default of a `{{ var.value.get('name', 'default') }}` template. */
function variableDefault(template: string, variable: string): string {
  const match = new RegExp(
    `^\\{\\{ var\\.value\\.get\\('${variable}', '([^']+)'\\) \\}\\}$`,
  ).exec(template);
  assert.ok(match, `${template} reads the Variable ${variable}`);
  return match[1];
}

Deno.test("Airflow's DagBag imports the three DAGs with zero errors, with the promised schedule, limits, retries, order, commands and Assets", async () => {
  const { import_errors, dags } = await inspect();
  assert.deepEqual(import_errors, {});
  assert.deepEqual(Object.keys(dags).sort(), [
    "stocks_backfill",
    "stocks_daily",
    "stocks_realtime",
  ]);

  const realtime = dags.stocks_realtime;
  assert.equal(realtime.timetable, "CronTriggerTimetable");
  assert.equal(realtime.schedule, "* * * * *");
  assert.equal(realtime.max_active_runs, 1);
  assert.equal(realtime.catchup, false);

  const backfill = dags.stocks_backfill;
  assert.equal(backfill.timetable, "NullTimetable", "manual only");
  assert.equal(backfill.max_active_runs, 1);
  assert.deepEqual(backfill.params, {
    start_date: {
      type: ["null", "string"],
      format: "date",
      title: "First landing date",
    },
    end_date: {
      type: ["null", "string"],
      format: "date",
      title: "Last landing date",
    },
    prefix: { type: ["null", "string"], title: "Lake prefix" },
  });

  // The daily DAG: the full build (every test over whole tables), then the copy.
  const daily = dags.stocks_daily;
  assert.equal(daily.timetable, "CronTriggerTimetable");
  assert.equal(daily.schedule, "30 2 * * *");
  assert.equal(daily.max_active_runs, 1);
  assert.equal(daily.catchup, false);
  assert.deepEqual(Object.keys(daily.tasks).sort(), ["copy_gold", "dbt_build"]);
  assert.deepEqual(daily.tasks.dbt_build.command, [
    "build",
    "--target",
    "duckdb",
  ]);
  assert.deepEqual(daily.tasks.dbt_build.downstream, ["copy_gold"]);
  assert.deepEqual(daily.tasks.copy_gold.command, ["copy-gold"]);
  for (const task of Object.values(daily.tasks)) {
    assert.equal(task.retries, 3);
    assert.equal(task.pool, "stocks_warehouse", "one warehouse writer");
    assert.ok((task.execution_timeout ?? 0) > 0, "an execution timeout");
  }

  for (const [id, dag] of Object.entries(dags)) {
    if (id === "stocks_daily") continue;
    const { load, dbt_build: build, copy_gold: copy } = dag.tasks;
    assert.deepEqual(
      Object.keys(dag.tasks).sort(),
      ["copy_gold", "dbt_build", "load"],
      id,
    );
    assert.deepEqual(
      build.command,
      frequentBuild("duckdb"),
      `${id}: the frequent path`,
    );
    assert.deepEqual(load.downstream, ["dbt_build"], `${id}: load, then dbt`);
    assert.deepEqual(build.upstream, ["load"], id);
    assert.deepEqual(build.downstream, ["copy_gold"], `${id}: then the copy`);
    assert.deepEqual(copy.upstream, ["dbt_build"], id);
    assert.deepEqual(load.outlets, [
      { name: "stocks_raw", uri: "stocks://warehouse/raw" },
    ]);
    assert.deepEqual(build.outlets, [
      { name: "stocks_gold", uri: "stocks://warehouse/gold" },
    ], `${id}: gold is an Asset downstream DAGs can wait on`);
    assert.deepEqual(copy.outlets, [
      { name: "stocks_gold_copy", uri: "stocks://warehouse/gold_copy" },
    ], `${id}: so is the copy readers open`);
    assert.deepEqual(copy.command, ["copy-gold"]);
    for (const task of [load, build, copy]) {
      assert.ok(task.bases.includes("DockerOperator"), task.type);
      assert.equal(task.retries, 3);
      assert.equal(task.retry_delay, 15);
      assert.equal(task.retry_exponential_backoff, 2, "exponential backoff");
      assert.equal(task.max_retry_delay, 300);
      assert.ok((task.execution_timeout ?? 0) > 0, "an execution timeout");
      assert.equal(task.pool, "stocks_warehouse", "one warehouse writer");
      assert.equal(task.mount_tmp_dir, false);
    }
    assert.equal(load.lake_conn_id, "stocks_lake");
    assert.equal(build.lake_conn_id, null, "dbt needs no lake keys");
    assert.equal(copy.lake_conn_id, null, "the copy needs no lake keys");
    for (const task of [load, build, copy]) {
      assert.equal(task.warehouse_conn_id, null, "DuckDB needs no credentials");
    }
  }
});

Deno.test("every DAG command is a deno task of deno.json or a real dbt command, in an image docker-compose.yml builds", async () => {
  const { dags } = await inspect();
  const images = await builtImages();
  const tasks = Object.keys(
    JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks,
  );
  await ensureVenv();
  let checked = 0;
  for (const [id, dag] of Object.entries(dags)) {
    for (const [taskId, task] of Object.entries(dag.tasks)) {
      const variable = taskId === "dbt_build"
        ? "stocks_dbt_image"
        : "stocks_pipeline_image";
      const tag = variableDefault(task.image, variable);
      const image = images[tag];
      assert.ok(
        image,
        `${id}.${taskId}: ${tag} is built by docker-compose.yml`,
      );
      const argv = [...image.entrypoint, ...task.command];
      if (argv[0] === "deno") {
        assert.equal(argv[1], "task", `${id}.${taskId}: ${argv.join(" ")}`);
        assert.ok(
          tasks.includes(argv[2]),
          `${id}.${taskId}: deno task ${argv[2]}`,
        );
      } else {
        assert.equal(argv[0], "dbt", `${id}.${taskId}: ${argv.join(" ")}`);
        // dbt itself accepts the command and its flags.
        const help = await new Deno.Command(venvBin("dbt"), {
          args: [argv[1], "--help"],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.ok(help.success, `dbt ${argv[1]} is a dbt command`);
        const usage = new TextDecoder().decode(help.stdout);
        for (const flag of argv.slice(2).filter((a) => a.startsWith("--"))) {
          assert.ok(usage.includes(flag), `dbt ${argv[1]} takes ${flag}`);
        }
      }
      checked++;
    }
  }
  assert.equal(checked, 8);
});

Deno.test("the DAGs take images, network, volume, pool, schedule, retries and container settings from the environment, and no secret", async () => {
  const { dags } = await inspect({
    STOCKS_PIPELINE_IMAGE: "registry.example/stocks-pipeline:1.2.3",
    STOCKS_DBT_IMAGE: "registry.example/stocks-dbt:1.2.3",
    STOCKS_DOCKER_URL: "tcp://docker.example:2375",
    STOCKS_DOCKER_NETWORK: "prod-net",
    STOCKS_WAREHOUSE_VOLUME: "prod-warehouse",
    STOCKS_WAREHOUSE_POOL: "prod_pool",
    STOCKS_REALTIME_SCHEDULE: "*/5 * * * *",
    STOCKS_DAILY_SCHEDULE: "0 23 * * 1-5",
    STOCKS_TEST_WINDOW_MINUTES: "5",
    STOCKS_RETRIES: "5",
    STOCKS_LOAD_TIMEOUT_MINUTES: "7",
    DBT_TARGET: "snowflake",
    WAREHOUSE: "snowflake",
    SNOWFLAKE_ACCOUNT: "myorg-stocks",
    S3_BUCKET: "prod-lake",
    KAFKA_TOPIC: "prod-quotes",
    // Secrets in Airflow's environment are not passed on: they come from
    // the stocks_lake and stocks_snowflake connections when a task runs.
    AWS_SECRET_ACCESS_KEY: "sentinel-not-forwarded-6f1d",
    FINNHUB_API_KEY: "sentinel-not-forwarded-2b7c",
    SNOWFLAKE_PASSWORD: "sentinel-not-forwarded-9a3e",
  });
  const realtime = dags.stocks_realtime;
  assert.equal(realtime.schedule, "*/5 * * * *");
  assert.deepEqual(
    Object.keys(realtime.tasks).sort(),
    ["dbt_build", "load"],
    "no DuckDB file to copy gold from on Snowflake",
  );
  const { load, dbt_build: build } = realtime.tasks;
  assert.equal(
    variableDefault(load.image, "stocks_pipeline_image"),
    "registry.example/stocks-pipeline:1.2.3",
  );
  assert.equal(
    variableDefault(build.image, "stocks_dbt_image"),
    "registry.example/stocks-dbt:1.2.3",
  );
  assert.deepEqual(build.command, frequentBuild("snowflake"));
  const daily = dags.stocks_daily;
  assert.equal(daily.schedule, "0 23 * * 1-5");
  assert.deepEqual(Object.keys(daily.tasks), ["dbt_build"]);
  assert.deepEqual(daily.tasks.dbt_build.command, [
    "build",
    "--target",
    "snowflake",
  ]);
  assert.equal(daily.tasks.dbt_build.warehouse_conn_id, "stocks_snowflake");
  assert.equal(load.execution_timeout, 7 * 60);
  for (const task of [load, build]) {
    assert.equal(task.docker_url, "tcp://docker.example:2375");
    assert.equal(task.network_mode, "prod-net");
    assert.equal(task.pool, "prod_pool");
    assert.equal(task.retries, 5);
    assert.deepEqual(task.mounts, [
      {
        Target: "/app/data",
        Source: "prod-warehouse",
        Type: "volume",
        ReadOnly: false,
      },
    ]);
    assert.deepEqual(task.environment, {
      KAFKA_TOPIC: "prod-quotes",
      S3_BUCKET: "prod-lake",
      WAREHOUSE: "snowflake",
      DBT_TARGET: "snowflake",
      SNOWFLAKE_ACCOUNT: "myorg-stocks",
    });
    assert.equal(task.warehouse_conn_id, "stocks_snowflake");
  }
  // What the DAGs pass on are the pipeline's own settings.
  const source = await Deno.readTextFile(join(DAGS, "stocks_pipeline.py"));
  const forwarded = /FORWARDED = \(([^)]*)\)/.exec(source)?.[1] ?? "";
  const names = [...forwarded.matchAll(/"([A-Z0-9_]+)"/g)].map((m) => m[1]);
  assert.ok(names.length >= 6, "FORWARDED lists the settings");
  const keys = Object.values(SETTINGS).map((s) => s.key);
  for (const name of names) assert.ok(keys.includes(name), name);
});

Deno.test("compose's airflow-init script migrates, creates the admin user and the pool, and can run again", async () => {
  const { services } = await composeJson<Project>(["config"]);
  const init = services["airflow-init"];
  assert.deepEqual(init.entrypoint, ["/bin/bash", "-c"]);
  const script = (init.command ?? []).join(" ").replaceAll("$$", "$");
  const environment = init.environment ?? {};
  const home = await Deno.makeTempDir({ prefix: "airflow-init-" });
  try {
    // As in the container, but on SQLite instead of the Postgres service.
    const env = {
      AIRFLOW__CORE__AUTH_MANAGER: environment.AIRFLOW__CORE__AUTH_MANAGER ??
        "",
      AIRFLOW_ADMIN_USER: environment.AIRFLOW_ADMIN_USER ?? "",
      AIRFLOW_ADMIN_PASSWORD: environment.AIRFLOW_ADMIN_PASSWORD ?? "",
      STOCKS_WAREHOUSE_POOL: environment.STOCKS_WAREHOUSE_POOL ?? "",
    };
    assert.equal(env.AIRFLOW_ADMIN_USER, CREDENTIALS.AIRFLOW_ADMIN_USER);
    for (const round of [1, 2]) {
      await airflowVenv();
      assertSuccess(
        await runProgram("bash", ["-c", script], {
          cwd: home,
          env: airflowEnv(home, env),
        }),
        `airflow-init, round ${round}`,
      );
    }
    // A JSON listing; Airflow may print warnings on stdout before it.
    const list = async (args: string[]) => {
      const result = await airflow(
        "airflow",
        [...args, "-o", "json"],
        home,
        env,
      );
      assertSuccess(result, args.join(" "));
      const line = result.stdout.split("\n").findLast((l) => l.startsWith("["));
      return JSON.parse(line ?? "[]");
    };
    const [pool] = await list(["pools", "get", "stocks_warehouse"]);
    assert.equal(pool.slots, "1", "one writer at a time");
    const users = await list(["users", "list"]);
    assert.deepEqual(
      users.map((u: { username: string; roles: string[] }) => [
        u.username,
        u.roles,
      ]),
      [[CREDENTIALS.AIRFLOW_ADMIN_USER, ["Admin"]]],
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

/** Lands `n` simulated events on a fresh topic in the local Kafka and MinIO. */
async function landEvents(services: ServicesEnv, n: number, dir: string) {
  const topic = `it-airflow-${crypto.randomUUID().slice(0, 8)}`;
  const env = {
    ...services,
    KAFKA_TOPIC: topic,
    KAFKA_GROUP_ID: `${topic}-lake`,
    KAFKA_TRADES_TOPIC: `${topic}-trades`,
    KAFKA_TRADES_GROUP_ID: `${topic}-trades-lake`,
    STREAM_DIR: `${dir}/unused-stream`,
    LAKE_DIR: `${dir}/unused-lake`,
  };
  assertSuccess(
    await run("producer.ts", ["--count", String(n), "--rate", "100000"], env),
    "produce",
  );
  assertSuccess(await run("consumer.ts", ["--drain"], env), "consume");
  return topic;
}

/** Starts the local Docker engine; resolves once it listens. */
async function startEngine(config: Record<string, unknown>, dir: string) {
  await airflowVenv();
  const file = join(dir, "engine.json");
  await Deno.writeTextFile(file, JSON.stringify(config));
  const child = new Deno.Command(join(VENV, "bin", "python"), {
    args: [join(ROOT, "tests", "airflow", "local_docker_engine.py"), file],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  assert.equal(value?.trim(), "ready", "the local Docker engine started");
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return child;
}

/** The containers the engine was asked to create, in order. */
async function containers(record: string) {
  const text = await Deno.readTextFile(record).catch(() => "");
  return text.trim().split("\n").filter(Boolean).map((line) =>
    JSON.parse(line) as {
      Image: string;
      Cmd: string[];
      Env: string[];
      HostConfig: {
        NetworkMode: string;
        Mounts: { Target: string; Source: string; Type: string }[];
      };
    }
  );
}

/** Asset events in Airflow's metadata database, per Asset name. */
async function assetEvents(home: string): Promise<Record<string, number>> {
  const result = await airflow("python", [
    "-c",
    `import json, sqlite3
rows = sqlite3.connect("airflow.db").execute(
    "select asset.name, count(*) from asset_event join asset on asset.id = asset_event.asset_id group by asset.name"
).fetchall()
print(json.dumps(dict(rows)))`,
  ], home);
  assertSuccess(result, "reading asset events");
  return JSON.parse(result.stdout);
}

/** Every file under `dir`, recursively. */
async function* files(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* files(path);
    else if (entry.isFile) yield path;
  }
}

Deno.test("airflow dags test runs stocks_realtime's containers to gold, stocks_backfill replays a day without duplicates, and stocks_daily runs every test", async () => {
  const services = await servicesUp();
  await ensureVenv();
  const dir = await Deno.makeTempDir({ prefix: "airflow-e2e-" });
  const home = join(dir, "airflow");
  await Deno.mkdir(home);
  const n = 150;
  const topic = await landEvents(services, n, dir);

  const images = await builtImages();
  const record = join(dir, "containers.jsonl");
  const engine = await startEngine({
    socket: join(dir, "docker.sock"),
    // A Variable names the dbt image: the engine knows it under that tag too.
    images: { ...images, "stocks-dbt:ci": images["stocks-dbt:latest"] },
    // The images' own files are the project's checkout.
    paths: [["/app", ROOT]],
    volumes_dir: join(dir, "volumes"),
    programs: { deno: Deno.execPath(), dbt: venvBin("dbt") },
    host_env: ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "NO_COLOR"],
    record,
  }, dir);
  const db = join(dir, "volumes", "stocks-ci-warehouse", "warehouse.duckdb");
  const secret = services.AWS_SECRET_ACCESS_KEY;
  const env = {
    STOCKS_DOCKER_URL: `unix://${join(dir, "docker.sock")}`,
    STOCKS_DOCKER_NETWORK: "stocks-ci",
    STOCKS_WAREHOUSE_VOLUME: "stocks-ci-warehouse",
    STOCKS_RETRIES: "1",
    STOCKS_RETRY_DELAY_SECONDS: "1",
    AIRFLOW_CONN_STOCKS_LAKE: JSON.stringify({
      conn_type: "aws",
      login: services.AWS_ACCESS_KEY_ID,
      password: secret,
    }),
    AIRFLOW_VAR_STOCKS_DBT_IMAGE: "stocks-dbt:ci",
    KAFKA_TOPIC: topic,
    KAFKA_TRADES_TOPIC: `${topic}-trades`,
    S3_BUCKET: services.S3_BUCKET,
    S3_ENDPOINT: services.S3_ENDPOINT,
    DUCKDB_PATH: "/app/data/warehouse.duckdb",
  };
  try {
    assertSuccess(await airflow("airflow", ["db", "migrate"], home), "migrate");

    // stocks_realtime: load, then dbt build, in their images.
    const realtime = await airflow(
      "airflow",
      ["dags", "test", "stocks_realtime"],
      home,
      env,
    );
    assertSuccess(realtime, "airflow dags test stocks_realtime");
    const [load, build, copy] = await containers(record);
    assert.equal(load.Image, "stocks-pipeline:latest");
    assert.deepEqual(load.Cmd, ["load"]);
    assert.equal(load.HostConfig.NetworkMode, "stocks-ci");
    assert.deepEqual(
      load.HostConfig.Mounts.map((m) => [m.Type, m.Source, m.Target]),
      [["volume", "stocks-ci-warehouse", "/app/data"]],
    );
    const loadEnv = Object.fromEntries(
      load.Env.map((pair) => pair.split(/=(.*)/s).slice(0, 2)),
    );
    assert.equal(loadEnv.KAFKA_TOPIC, topic);
    assert.equal(loadEnv.KAFKA_TRADES_TOPIC, `${topic}-trades`);
    assert.equal(loadEnv.AWS_ACCESS_KEY_ID, services.AWS_ACCESS_KEY_ID);
    assert.equal(loadEnv.AWS_SECRET_ACCESS_KEY, secret, "from stocks_lake");
    assert.equal(build.Image, "stocks-dbt:ci", "the Variable's image");
    assert.deepEqual(build.Cmd, frequentBuild("duckdb"));
    assert.ok(
      !build.Env.some((pair) => pair.startsWith("AWS_SECRET_ACCESS_KEY=")),
      "dbt gets no lake keys",
    );
    assert.equal(copy.Image, "stocks-pipeline:latest");
    assert.deepEqual(copy.Cmd, ["copy-gold"]);

    assert.equal(
      await count(
        db,
        "select count(distinct (stream_partition, stream_offset)) from raw.source_stock_quotes",
      ),
      n,
    );
    assert.equal(
      await count(db, "select count(*) from raw.source_stock_quotes"),
      n,
    );
    const silver = await count(
      db,
      "select count(*) from silver.silver_clean_stock_quotes",
    );
    assert.ok(silver > 0 && silver <= n, `silver holds ${silver} quotes`);
    assert.equal(
      await count(
        db,
        "select count(distinct symbol) from gold.gold_latest_kpi",
      ),
      SYMBOLS.length,
    );
    const models = [
      "silver.silver_clean_stock_quotes",
      "gold.gold_latest_kpi",
      "gold.gold_candles",
    ];
    const built = await snapshot(db, models);
    // Readers' gold, beside the warehouse in the volume, is the built gold.
    const goldCopy = join(dirname(db), "gold_copy.duckdb");
    const gold = models.filter((m) => m.startsWith("gold."));
    assert.deepEqual(await snapshot(goldCopy, gold), await snapshot(db, gold));

    // Lose one symbol's RAW rows, then replay today's objects, twice.
    const today = new Date().toISOString().slice(0, 10);
    {
      const instance = await DuckDBInstance.create(db);
      const connection = await instance.connect();
      await connection.run(
        "delete from raw.source_stock_quotes where v->>'symbol' = 'AAPL'",
      );
      connection.closeSync();
      instance.closeSync();
    }
    assert.ok(
      await count(db, "select count(*) from raw.source_stock_quotes") < n,
    );
    for (const round of [1, 2]) {
      const backfill = await airflow(
        "airflow",
        [
          "dags",
          "test",
          "stocks_backfill",
          "--conf",
          JSON.stringify({ start_date: today, end_date: today }),
        ],
        home,
        env,
      );
      assertSuccess(
        backfill,
        `airflow dags test stocks_backfill, round ${round}`,
      );
      assert.equal(
        await count(db, "select count(*) from raw.source_stock_quotes"),
        n,
        `round ${round}: every event once`,
      );
      assert.deepEqual(await snapshot(db, models), built, `round ${round}`);
    }
    // stocks_daily: the full build, every test over whole tables, then the
    // copy; the incremental models have nothing new and gold stays as built.
    const daily = await airflow(
      "airflow",
      ["dags", "test", "stocks_daily"],
      home,
      env,
    );
    assertSuccess(daily, "airflow dags test stocks_daily");
    const [dailyBuild, dailyCopy] = (await containers(record)).slice(9);
    assert.deepEqual(dailyBuild.Cmd, ["build", "--target", "duckdb"]);
    assert.deepEqual(dailyCopy.Cmd, ["copy-gold"]);
    assert.deepEqual(await snapshot(db, models), built, "after stocks_daily");

    // Each successful run updated the RAW, gold and gold copy Assets once.
    assert.deepEqual(await assetEvents(home), {
      stocks_gold: 4,
      stocks_gold_copy: 4,
      stocks_raw: 3,
    });
    const all = await containers(record);
    assert.equal(all.length, 11);
    assert.deepEqual(all[3].Cmd, [
      "load",
      "--reload",
      "--from",
      today,
      "--to",
      today,
      "--prefix",
      "",
    ]);

    // A parameter that is not a date never reaches a container.
    const invalid = await airflow(
      "airflow",
      [
        "dags",
        "test",
        "stocks_backfill",
        "--conf",
        JSON.stringify({ start_date: "yesterday" }),
      ],
      home,
      env,
    );
    assert.notEqual(invalid.code, 0, "an invalid start_date fails the run");
    assert.match(
      invalid.stderr,
      /Invalid input for param start_date: 'yesterday' is not a 'date'/,
    );
    assert.equal((await containers(record)).length, 11);

    // Without the stocks_lake connection the load stops, saying what to do.
    const { AIRFLOW_CONN_STOCKS_LAKE: _, ...noConnection } = env;
    const unconnected = await airflow(
      "airflow",
      ["dags", "test", "stocks_realtime"],
      home,
      noConnection,
    );
    assert.notEqual(unconnected.code, 0);
    assert.match(
      unconnected.stdout + unconnected.stderr,
      /Cannot run the task as the Airflow connection 'stocks_lake' \(the lake's S3 keys\) is not defined: add it under Admin > Connections, or set AIRFLOW_CONN_STOCKS_LAKE/,
    );
    assert.equal((await containers(record)).length, 11, "no container started");

    // The lake's secret key reached the container, and nothing Airflow kept.
    for (const output of [realtime.stdout, realtime.stderr]) {
      assert.ok(!output.includes(secret), "the secret is not in the output");
    }
    for await (const path of files(home)) {
      const bytes = await Deno.readFile(path);
      assert.ok(
        !new TextDecoder("latin1").decode(bytes).includes(secret),
        `${path} does not hold the secret`,
      );
    }
  } finally {
    engine.kill("SIGTERM");
    await engine.status;
    await Deno.remove(dir, { recursive: true });
  }
});
