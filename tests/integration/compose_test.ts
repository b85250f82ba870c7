/**
 * Validates docker-compose.yml against the Compose Specification with the
 * Docker Compose CLI's own `config` (built once by
 * dev/compose_validator.ts; see there why this validator), then checks
 * the promises the stack makes on the model Compose resolves, and runs the
 * Dockerfile's install steps. No Docker engine is needed or used.
 */
import assert from "node:assert/strict";
import { cpSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { SETTINGS } from "../../lib/runtime/config.ts";
import {
  compose,
  COMPOSE_FILE,
  composeJson,
  CREDENTIALS,
  dockerfile,
  envFile,
  EXAMPLE,
  type Project,
  REQUIRED,
  ROOT,
  type Run,
  type Service,
} from "../_compose.ts";

/** Services that run once and exit; every other one is long-running. */
const ONE_SHOTS = ["minio-init", "loader", "dbt", "airflow-init"];

/** The Airflow 3 components, each a long-running service. */
const AIRFLOW = [
  "airflow-apiserver",
  "airflow-scheduler",
  "airflow-dag-processor",
  "airflow-triggerer",
];

/** Names of environment variables that hold credentials. */
const CREDENTIAL_NAME =
  /(^|_)(USER|PASSWORD|SECRET|TOKEN)(_|$)|ACCESS_KEY|API_KEY|FERNET_KEY/;

let resolved: Promise<Project> | undefined;

/** The model `docker compose up` would run: interpolated and normalised. */
function project(): Promise<Project> {
  resolved ??= composeJson<Project>(["config"]);
  return resolved;
}

function env(service: Service, name: string): string {
  const value = service.environment?.[name];
  assert.equal(typeof value, "string", `${name} is set`);
  return value as string;
}

/** Copies docker-compose.yml with one text replaced, runs `config --quiet` on it. */
async function validateEdited(from: string, to: string): Promise<Run> {
  const original = await Deno.readTextFile(COMPOSE_FILE);
  assert.ok(original.includes(from), `docker-compose.yml contains ${from}`);
  const file = await Deno.makeTempFile({
    prefix: "compose-test-",
    suffix: ".yml",
  });
  const env = await envFile({ ...CREDENTIALS, ...REQUIRED });
  try {
    await Deno.writeTextFile(file, original.replace(from, to));
    return await compose(["config", "--quiet"], env, file);
  } finally {
    await Deno.remove(file);
    await Deno.remove(env);
  }
}

Deno.test("docker-compose.yml is valid Compose with .env.example and the two MinIO credentials", async () => {
  const env = await envFile({ ...CREDENTIALS, ...REQUIRED });
  try {
    const run = await compose(["config", "--quiet"], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "", "no warnings, e.g. of unset variables");
  } finally {
    await Deno.remove(env);
  }
});

Deno.test("a missing required value stops compose with a message that says what to do", async () => {
  const all: Record<string, string> = { ...CREDENTIALS, ...REQUIRED };
  for (const name of Object.keys(all)) {
    const others = Object.fromEntries(
      Object.entries(all).filter(([key]) => key !== name),
    );
    const env = await envFile(others);
    try {
      const run = await compose(["config", "--quiet"], env);
      assert.notEqual(run.code, 0, `compose accepted a missing ${name}`);
      assert.match(
        run.stderr,
        new RegExp(
          `required variable ${name} is missing a value: set ${name} in \\.env \\(copy \\.env\\.example\\)`,
        ),
      );
    } finally {
      await Deno.remove(env);
    }
  }
});

Deno.test("the validator rejects what the Compose Specification forbids", async () => {
  // The schema: a property services do not have.
  const schema = await validateEdited(
    "  kafdrop:\n",
    "  kafdrop:\n    restart_policy: always\n",
  );
  assert.notEqual(schema.code, 0);
  assert.match(
    schema.stderr,
    /services\.kafdrop additional properties 'restart_policy' not allowed/,
  );
  // The model's consistency: a dependency on a service that does not exist.
  const model = await validateEdited(
    "      minio:\n        condition: service_healthy\n",
    "      s3:\n        condition: service_healthy\n",
  );
  assert.notEqual(model.code, 0);
  assert.match(model.stderr, /depends on undefined service "?s3"?/);
});

Deno.test("the pipeline's services use the one Dockerfile and run a deno task; dbt and Airflow have their own images", async () => {
  const { services } = await project();
  const tasks = Object.keys(
    JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks,
  );
  const built = Object.entries(services).filter(([, s]) =>
    s.build?.dockerfile === "Dockerfile"
  );
  assert.deepEqual(built.map(([name]) => name).sort(), [
    "consumer",
    "dashboard",
    "follow",
    "loader",
    "producer",
    "trades-producer",
  ]);
  // One image per stage of the Dockerfile: follow's adds Python and dbt.
  assert.deepEqual(
    Object.fromEntries(
      built.map(([name, s]) => [name, [s.build?.target, s.image]]),
    ),
    {
      producer: ["pipeline", "stocks-pipeline:latest"],
      "trades-producer": ["pipeline", "stocks-pipeline:latest"],
      consumer: ["pipeline", "stocks-pipeline:latest"],
      loader: ["pipeline", "stocks-pipeline:latest"],
      dashboard: ["pipeline", "stocks-pipeline:latest"],
      follow: ["follow", "stocks-follow:latest"],
    },
  );
  const stages = (await dockerfile()).filter(([i]) => i === "FROM").map((
    [, args],
  ) => args.split(/\s+/).at(-1));
  assert.deepEqual(stages, ["pipeline", "follow"]);
  assert.equal(services.dbt.build?.dockerfile, "dbt_stocks/Dockerfile");
  assert.equal(services.dbt.image, "stocks-dbt:latest");
  const images = new Set(
    ["airflow-init", ...AIRFLOW].map((name) => services[name].image),
  );
  assert.deepEqual([...images], ["stocks-airflow:3.3.2"]);
  // The official image, with the providers at the versions the DAG tests pin.
  const inline = services["airflow-init"].build?.dockerfile_inline ?? "";
  assert.match(inline, /^FROM apache\/airflow:3\.3\.2-python3\.11$/m);
  const pins = await Deno.readTextFile(
    join(ROOT, "requirements-airflow.txt"),
  );
  for (
    const name of [
      "apache-airflow",
      "apache-airflow-providers-docker",
      "apache-airflow-providers-fab",
    ]
  ) {
    const version = pins.match(new RegExp(`^${name}==(\\S+)$`, "m"))?.[1];
    assert.ok(version, `requirements-airflow.txt pins ${name}`);
    assert.ok(inline.includes(`"${name}==${version}"`), `image pins ${name}`);
  }
  for (const [name, service] of built) {
    assert.equal(service.build?.context, ROOT, `${name} build context`);
    assert.equal(service.build?.dockerfile, "Dockerfile", `${name} Dockerfile`);
    assert.ok(tasks.includes(service.command?.[0] ?? ""), `${name} command`);
  }
});

Deno.test("Kafka is apache/kafka:4.1.1 in KRaft mode, reachable from containers and the host", async () => {
  const { services } = await project();
  const kafka = services.kafka;
  assert.equal(kafka.image, "apache/kafka:4.1.1");
  assert.equal(env(kafka, "KAFKA_PROCESS_ROLES"), "broker,controller");
  const advertised = Object.fromEntries(
    env(kafka, "KAFKA_ADVERTISED_LISTENERS").split(",").map((listener) => {
      const [name, address] = listener.split("://");
      return [name, address];
    }),
  );
  const internal = advertised[env(kafka, "KAFKA_INTER_BROKER_LISTENER_NAME")];
  assert.equal(internal, "kafka:29092");
  assert.ok(Object.values(advertised).includes("localhost:9092"));
  assert.deepEqual(
    kafka.ports?.map((p) => [p.published, p.target]),
    [["9092", 9092]],
  );
  for (const name of ["producer", "trades-producer", "consumer", "loader"]) {
    assert.equal(env(services[name], "KAFKA_BROKERS"), internal, name);
  }
  assert.equal(env(services.kafdrop, "KAFKA_BROKERCONNECT"), internal);
});

Deno.test("Kafdrop publishes :9000 and the MinIO console :9001, on loopback only", async () => {
  const { services } = await project();
  assert.deepEqual(
    services.kafdrop.ports?.map((p) => [p.published, p.target]),
    [["9000", 9000]],
  );
  assert.deepEqual(
    services.minio.ports?.map((p) => [p.published, p.target]),
    [["9001", 9001]],
  );
  for (const [name, service] of Object.entries(services)) {
    for (const port of service.ports ?? []) {
      assert.equal(
        port.host_ip,
        "127.0.0.1",
        `${name} publishes ${port.target}`,
      );
    }
  }
});

Deno.test("every long-running service restarts, and the one-shots do not", async () => {
  const { services } = await project();
  for (const name of ONE_SHOTS) assert.ok(services[name], name);
  for (const [name, service] of Object.entries(services)) {
    if (ONE_SHOTS.includes(name)) {
      assert.equal(service.restart, "no", name);
    } else {
      assert.ok(
        ["always", "unless-stopped"].includes(service.restart ?? ""),
        `${name} restart policy: ${service.restart}`,
      );
    }
  }
});

Deno.test("every depends_on waits on a condition its target can meet", async () => {
  const { services } = await project();
  let count = 0;
  for (const [name, service] of Object.entries(services)) {
    for (
      const [target, { condition }] of Object.entries(service.depends_on ?? {})
    ) {
      count++;
      const dependency = services[target];
      if (condition === "service_healthy") {
        assert.ok(
          dependency.healthcheck?.test?.length &&
            !dependency.healthcheck.disable,
          `${name} waits for ${target} to be healthy, which has no healthcheck`,
        );
      } else {
        // Short syntax reads as service_started, which waits for nothing.
        assert.equal(
          condition,
          "service_completed_successfully",
          `${name} depends on ${target}`,
        );
        assert.ok(ONE_SHOTS.includes(target), `${target} is a one-shot`);
      }
    }
  }
  assert.ok(count >= 12, "the stack's dependencies are declared");
});

Deno.test("follow runs deno task follow from the warehouse volume, healthy while its status file is fresh", async () => {
  const { services } = await project();
  const follow = services.follow;
  assert.deepEqual(follow.command, ["follow"]);
  assert.equal(follow.restart, "unless-stopped");
  // The same warehouse as the loader and dbt; the lake, as the consumer lands it.
  assert.equal(env(follow, "DUCKDB_PATH"), env(services.loader, "DUCKDB_PATH"));
  for (
    const name of [
      "S3_BUCKET",
      "S3_ENDPOINT",
      "KAFKA_TOPIC",
      "KAFKA_TRADES_TOPIC",
    ]
  ) {
    assert.equal(env(follow, name), env(services.consumer, name), name);
  }
  assert.deepEqual(follow.depends_on, {
    "minio-init": {
      condition: "service_completed_successfully",
      required: true,
    },
  });
  // The healthcheck reads the status file, which lies in the mounted volume
  // (the image's working directory is /app).
  assert.deepEqual(follow.healthcheck?.test, [
    "CMD",
    "deno",
    "task",
    "follow",
    "--status",
  ]);
  const status = join("/app", SETTINGS.followStatusPath.fallback);
  const volume = follow.volumes?.find((v) => v.source === "warehouse");
  assert.ok(
    volume && status.startsWith(`${volume.target}/`),
    `${status} in the volume`,
  );
  const workdir = (await dockerfile()).filter(([i]) => i === "WORKDIR");
  assert.deepEqual(workdir, [["WORKDIR", "/app"]]);
  // SIGTERM lets the step under way finish: a dbt run may take tens of seconds.
  assert.match(follow.stop_grace_period ?? "", /^1m0s$|^60s$/);
});

Deno.test("the dashboard reads the warehouse volume read-only, listens on every address of its container and is published on 127.0.0.1:8090", async () => {
  const { services } = await project();
  const dashboard = services.dashboard;
  assert.deepEqual(dashboard.command, ["dashboard"]);
  // The gold copy and follow's status file, beside the warehouse that
  // follow writes.
  assert.equal(
    env(dashboard, "DUCKDB_PATH"),
    env(services.follow, "DUCKDB_PATH"),
  );
  const volume = dashboard.volumes?.find((v) => v.source === "warehouse");
  assert.equal(volume?.target, dirname(env(dashboard, "DUCKDB_PATH")));
  assert.equal(volume?.read_only, true);
  assert.equal(env(dashboard, "DASHBOARD_HOST"), "0.0.0.0");
  assert.equal(env(dashboard, "DASHBOARD_PORT"), "8090");
  assert.deepEqual(
    dashboard.ports?.map((p) => [p.host_ip, p.published, p.target]),
    [["127.0.0.1", "8090", 8090]],
  );
  assert.deepEqual(dashboard.healthcheck?.test, [
    "CMD",
    "deno",
    "task",
    "dashboard",
    "--check",
  ]);
  // Its pipeline panel reads the stream and the lake follow reads.
  for (const name of ["KAFKA_BROKERS", "S3_BUCKET", "S3_ENDPOINT"]) {
    assert.equal(env(dashboard, name), env(services.follow, name), name);
  }
});

Deno.test("Prometheus, the official image, scrapes each long-running pipeline task at its METRICS_PORT with the rules of deploy/prometheus/", async () => {
  const { services } = await project();
  const prometheus = services.prometheus;
  assert.equal(prometheus.image, "prom/prometheus:v2.42.0");
  assert.deepEqual(
    prometheus.ports?.map((p) => [p.published, p.target]),
    [["9090", 9090]],
  );
  const config = prometheus.volumes?.find((v) => v.type === "bind");
  assert.deepEqual(
    [config?.source, config?.target, config?.read_only],
    [join(ROOT, "deploy", "prometheus"), "/etc/prometheus", true],
  );
  assert.ok(
    prometheus.command?.includes(
      "--config.file=/etc/prometheus/prometheus.yml",
    ),
  );
  // busybox's wget is what the image has to ask for readiness.
  assert.deepEqual(prometheus.healthcheck?.test?.slice(0, 2), ["CMD", "wget"]);
  // Every long-running pipeline service serves /metrics on the network, and
  // Prometheus scrapes each at that port.
  const text = await Deno.readTextFile(
    join(ROOT, "deploy", "prometheus", "prometheus.yml"),
  );
  const targets = [...text.matchAll(/^\s+- ([a-z-]+):(\d+)$/gm)].map((
    [, host, port],
  ) => `${host}:${port}`).sort();
  const pipeline = ["consumer", "follow", "producer", "trades-producer"];
  assert.deepEqual(
    targets,
    pipeline.map((name) => `${name}:${env(services[name], "METRICS_PORT")}`),
  );
  for (const name of pipeline) {
    assert.equal(env(services[name], "METRICS_HOST"), "0.0.0.0", name);
  }
  // The one-shot loader serves nothing.
  assert.equal(services.loader.environment?.METRICS_PORT, undefined);
});

Deno.test("Kafka and MinIO have healthchecks with commands their images ship", async () => {
  const { services } = await project();
  const kafka = services.kafka.healthcheck?.test ?? [];
  // apache/kafka has its scripts under /opt/kafka/bin.
  assert.equal(kafka[0], "CMD-SHELL");
  assert.match(kafka[1], /^\/opt\/kafka\/bin\/kafka-broker-api-versions\.sh /);
  // minio/minio ships mc but no curl; `mc ready local` is MinIO's own check.
  assert.deepEqual(services.minio.healthcheck?.test, [
    "CMD",
    "mc",
    "ready",
    "local",
  ]);
});

Deno.test("data lives in declared named volumes where each service writes it", async () => {
  const { services, volumes } = await project();
  const declared = Object.keys(volumes ?? {}).sort();
  assert.deepEqual(declared, [
    "airflow-db",
    "airflow-logs",
    "kafka-data",
    "minio-data",
    "prometheus-data",
    "warehouse",
  ]);
  const mounts: Record<string, string> = {};
  for (const [name, service] of Object.entries(services)) {
    for (const volume of service.volumes ?? []) {
      // Bind mounts: Airflow's DAGs folder and Docker socket, Prometheus' config.
      if (volume.type === "bind") continue;
      assert.equal(volume.type, "volume", `${name} mounts ${volume.target}`);
      assert.ok(declared.includes(volume.source ?? ""), `${name} volume`);
      mounts[`${name}:${volume.target}`] = volume.source ?? "";
    }
  }
  assert.deepEqual(mounts, {
    [`kafka:${env(services.kafka, "KAFKA_LOG_DIRS")}`]: "kafka-data",
    [`minio:${services.minio.command?.[1]}`]: "minio-data",
    [`loader:${dirname(env(services.loader, "DUCKDB_PATH"))}`]: "warehouse",
    [`follow:${dirname(env(services.follow, "DUCKDB_PATH"))}`]: "warehouse",
    [`dashboard:${dirname(env(services.dashboard, "DUCKDB_PATH"))}`]:
      "warehouse",
    [`dbt:${dirname(env(services.dbt, "DUCKDB_PATH"))}`]: "warehouse",
    "prometheus:/prometheus": "prometheus-data",
    "postgres:/var/lib/postgresql/data": "airflow-db",
    ...Object.fromEntries(
      ["airflow-init", ...AIRFLOW].map((
        name,
      ) => [`${name}:/opt/airflow/logs`, "airflow-logs"]),
    ),
  });
});

Deno.test("Airflow 3 runs its four components on :8080 with the DAGs folder and the Docker socket mounted", async () => {
  const { services } = await project();
  assert.deepEqual(
    services["airflow-apiserver"].ports?.map((p) => [p.published, p.target]),
    [["8080", 8080]],
  );
  assert.deepEqual(AIRFLOW.map((name) => services[name].command?.[0]), [
    "api-server",
    "scheduler",
    "dag-processor",
    "triggerer",
  ]);
  for (const name of ["airflow-init", ...AIRFLOW]) {
    const service = services[name];
    const binds = Object.fromEntries(
      (service.volumes ?? []).filter((v) => v.type === "bind").map((v) => [
        v.target,
        [v.source, v.read_only ?? false],
      ]),
    );
    assert.deepEqual(binds, {
      "/opt/airflow/dags": [join(ROOT, "dags"), true],
      "/var/run/docker.sock": ["/var/run/docker.sock", false],
    }, name);
    assert.deepEqual(service.group_add, [REQUIRED.DOCKER_GID], name);
    assert.equal(
      env(service, "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"),
      "http://airflow-apiserver:8080/execution/",
    );
    assert.match(
      env(service, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"),
      /^postgresql\+psycopg2:\/\/postgres:[^@]+@postgres\/airflow$/,
    );
    // What the DAGs' containers need: the stack's network and warehouse volume.
    assert.equal(env(service, "STOCKS_DOCKER_NETWORK"), "stocks-pipeline");
    assert.equal(
      env(service, "STOCKS_WAREHOUSE_VOLUME"),
      "stocks-pipeline-warehouse",
    );
    assert.equal(
      env(service, "DUCKDB_PATH"),
      env(services.loader, "DUCKDB_PATH"),
    );
    const lake = JSON.parse(env(service, "AIRFLOW_CONN_STOCKS_LAKE"));
    assert.deepEqual(lake, {
      conn_type: "aws",
      login: CREDENTIALS.MINIO_ROOT_USER,
      password: CREDENTIALS.MINIO_ROOT_PASSWORD,
    });
  }
  const { networks, volumes } = await composeJson<
    {
      networks: Record<string, { name: string }>;
      volumes: Record<string, { name: string }>;
    }
  >(["config"]);
  assert.equal(networks.default.name, "stocks-pipeline");
  assert.equal(volumes.warehouse.name, "stocks-pipeline-warehouse");
  // The one-shot init: migrate, the admin user from .env, the warehouse pool.
  const init = services["airflow-init"];
  const script = init.command?.join(" ") ?? "";
  assert.match(script, /airflow db migrate/);
  assert.match(
    script,
    /airflow users create --role Admin --username "\$\$AIRFLOW_ADMIN_USER" --password "\$\$AIRFLOW_ADMIN_PASSWORD"/,
  );
  assert.match(script, /airflow pools set "\$\$STOCKS_WAREHOUSE_POOL" 1 /);
  assert.equal(env(init, "AIRFLOW_ADMIN_USER"), CREDENTIALS.AIRFLOW_ADMIN_USER);
  for (const name of ["airflow-init", ...AIRFLOW]) {
    assert.deepEqual(
      Object.keys(services[name].depends_on ?? {}).sort(),
      name === "airflow-init"
        ? ["postgres"]
        : name === "airflow-scheduler"
        ? ["airflow-apiserver", "airflow-init"]
        : ["airflow-init"],
      name,
    );
  }
});

Deno.test("every credential comes from .env, none is written in the compose file", async () => {
  // As written: each credential is exactly a variable, with no default value.
  const raw = await composeJson<Project>([
    "config",
    "--no-interpolate",
    "--no-normalize",
  ]);
  const found: string[] = [];
  for (const [name, service] of Object.entries(raw.services)) {
    for (const [key, value] of Object.entries(service.environment ?? {})) {
      if (!CREDENTIAL_NAME.test(key)) continue;
      found.push(`${name}.${key}`);
      assert.match(
        value ?? "",
        /^\$\{[A-Z][A-Z0-9_]*(:?\?[^}]*|:-)?\}$/,
        `${name}.${key} is a variable without a default`,
      );
    }
  }
  for (
    const expected of [
      "minio.MINIO_ROOT_USER",
      "minio.MINIO_ROOT_PASSWORD",
      "minio-init.MINIO_ROOT_PASSWORD",
      "producer.AWS_SECRET_ACCESS_KEY",
      "producer.FINNHUB_API_KEY",
      "trades-producer.FINNHUB_API_KEY",
      "consumer.AWS_SECRET_ACCESS_KEY",
      "loader.AWS_SECRET_ACCESS_KEY",
      "follow.AWS_SECRET_ACCESS_KEY",
      "dashboard.AWS_SECRET_ACCESS_KEY",
      "postgres.POSTGRES_PASSWORD",
      "airflow-init.AIRFLOW_ADMIN_USER",
      "airflow-init.AIRFLOW_ADMIN_PASSWORD",
      "airflow-scheduler.AIRFLOW__API_AUTH__JWT_SECRET",
    ]
  ) {
    assert.ok(found.includes(expected), expected);
  }
  // Resolved: the values are the ones .env gave, and nothing else carries them.
  const { services } = await project();
  const sentinels = Object.values(CREDENTIALS);
  for (const [name, service] of Object.entries(services)) {
    for (const [key, value] of Object.entries(service.environment ?? {})) {
      if (CREDENTIAL_NAME.test(key)) {
        assert.ok(
          value === "" || sentinels.includes(value ?? ""),
          `${name}.${key} comes from .env`,
        );
      } else {
        assert.ok(!sentinels.includes(value ?? ""), `${name}.${key}`);
      }
    }
  }
  assert.equal(
    env(services.consumer, "AWS_SECRET_ACCESS_KEY"),
    CREDENTIALS.MINIO_ROOT_PASSWORD,
  );
});

Deno.test("every variable the compose file reads is documented in .env.example", async () => {
  const variables = await composeJson<
    Record<string, { Required: boolean }>
  >(["config", "--variables"]);
  for (const name of Object.keys(variables)) {
    assert.match(EXAMPLE, new RegExp(`^# ${name}=`, "m"), name);
  }
  assert.deepEqual(
    Object.entries(variables).filter(([, v]) => v.Required).map(([n]) => n)
      .sort(),
    [...Object.keys(CREDENTIALS), ...Object.keys(REQUIRED)].sort(),
  );
});

Deno.test("the image is the official Deno image at the version CI tests with", async () => {
  const instructions = await dockerfile();
  const ci = await Deno.readTextFile(join(ROOT, ".ci", "run"));
  const version = ci.match(/^DENO_VERSION=(\S+)$/m)?.[1];
  assert.ok(version, ".ci/run pins DENO_VERSION");
  assert.deepEqual(instructions[0], [
    "FROM",
    `denoland/deno:${version} AS pipeline`,
  ]);
  assert.deepEqual(
    instructions.find(([i]) => i === "ENTRYPOINT"),
    ["ENTRYPOINT", '["deno", "task"]'],
  );
});

Deno.test("the Dockerfile's deno install steps pass on exactly the files it copies", async () => {
  const app = await Deno.makeTempDir({ prefix: "compose-test-app-" });
  try {
    const installs: string[][] = [];
    for (const [instruction, args] of await dockerfile()) {
      if (instruction === "COPY") {
        const parts = args.split(/\s+/).filter((p) => !p.startsWith("--"));
        const target = join(app, parts.pop() ?? "");
        for (const source of parts) {
          const from = join(ROOT, source);
          const isDir = (await Deno.stat(from)).isDirectory;
          // As Docker does: a file goes into the target folder under its own name.
          cpSync(from, isDir ? target : join(target, basename(source)), {
            recursive: true,
          });
        }
      } else if (instruction === "RUN" && args.startsWith("deno install")) {
        assert.match(args, /--frozen/, "installs only what deno.lock pins");
        installs.push(args.split(/\s+/).slice(1));
      }
    }
    assert.equal(
      installs.length,
      3,
      "dependencies, the entry points, then follow's stage's",
    );
    for (const args of installs) {
      const output = await new Deno.Command(Deno.execPath(), {
        args,
        cwd: app,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(
        output.success,
        `deno ${args.join(" ")}:\n${new TextDecoder().decode(output.stderr)}`,
      );
    }
  } finally {
    await Deno.remove(app, { recursive: true });
  }
});
