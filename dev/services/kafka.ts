/**
 * A native Apache Kafka for development and CI in KRaft mode on loopback: one
 * combined broker and controller by default, or a cluster of such nodes, from the official Maven Central
 * artifacts (fetched by Maven into the user cache), run with
 * `java … kafka.Kafka` after `kafka.tools.StorageTool format`.
 *
 * @module
 */
import { join } from "node:path";
import { runTool } from "../../lib/runtime/tool.ts";
import {
  type DaemonFiles,
  daemonFiles,
  portOpen,
  runningPid,
  startDaemon,
  stopDaemon,
  waitUntilReady,
} from "./daemon.ts";

/**
 * Kafka's version. kafkajs 2.2.4 works with it: Kafka 4 removed old protocol
 * versions, but kafkajs negotiates ones the broker still serves (checked by
 * the integration tests).
 */
export const KAFKA_VERSION = "4.1.1";

/** How Java is run: to start Kafka, and what to say when it is missing. */
const JAVA = {
  purpose: "start Kafka",
  missing:
    "Cannot start Kafka as Java was not found: install a JDK or JRE 17+ (Debian: apt-get install openjdk-17-jre-headless)",
};

/** Log4j 2 for Kafka's logging (Kafka 4.1 logs through slf4j 1.7). */
const LOG4J_VERSION = "2.24.3";

/** Options for {@linkcode startKafka}. */
export interface KafkaServiceOptions {
  /** Directory of the services' runtime files (`.services`). */
  root: string;
  /** Directory of cached downloads (the user cache). */
  cache: string;
  /**
   * Broker port of the first node on 127.0.0.1; node `i` (from 1) listens
   * on `port + 2 (i - 1)`.
   *
   * @default {19092}
   */
  port?: number;
  /**
   * Controller port of the first node on 127.0.0.1; node `i` (from 1)
   * listens on `controllerPort + 2 (i - 1)`.
   *
   * @default {19093}
   */
  controllerPort?: number;
  /**
   * Nodes of the cluster, each a combined broker and controller with its
   * own ports and directory (`kafka/` for one node, `kafka-1/` … for more).
   *
   * @default {1}
   */
  nodes?: number;
}

/** A running Kafka. */
export interface KafkaService {
  /** `127.0.0.1:<port>`, comma-separated, one per node. */
  brokers: string;
  /** The nodes' pids, in node order. */
  pids: number[];
  /** The node ids this call started (the others were running already). */
  started: number[];
}

/** One node of a cluster: its id, ports and files. */
interface KafkaNode {
  id: number;
  port: number;
  controllerPort: number;
  files: DaemonFiles;
}

/** The classpath directory of Kafka's jars, fetched by Maven on first use. */
export async function fetchKafka(cache: string): Promise<string> {
  const home = join(cache, `kafka-${KAFKA_VERSION}`);
  const libs = join(home, "libs");
  const stamp = join(home, ".complete");
  if (await exists(stamp)) return libs;
  await Deno.mkdir(home, { recursive: true });
  await Deno.writeTextFile(join(home, "pom.xml"), pom());
  await runTool(
    "mvn",
    [
      "-q",
      "-B",
      "dependency:copy-dependencies",
      "-DoutputDirectory=libs",
      "-DincludeScope=runtime",
    ],
    {
      purpose: "fetch Kafka",
      missing:
        "Cannot fetch Kafka as Maven (mvn) was not found: install Maven 3 (Debian: apt-get install maven)",
      cwd: home,
    },
  );
  await Deno.writeTextFile(stamp, `${new Date().toISOString()}\n`);
  return libs;
}

/**
 * Starts the nodes of Kafka that are not running (a node that runs is
 * reused, so after one node of a cluster was killed only that one starts
 * again), and waits until each started node takes connections.
 *
 * @param options Directories, ports and the number of nodes.
 * @returns The brokers' addresses.
 * @throws {RangeError} When `nodes` is not an integer from 1 to 9.
 * @throws {FatalError} When Java or Maven is missing.
 * @throws {Error} When a node's port is taken by another process, or a node does not start.
 */
export async function startKafka(
  options: KafkaServiceOptions,
): Promise<KafkaService> {
  const { root, cache, port = 19092, controllerPort = 19093, nodes = 1 } =
    options;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) {
    throw new RangeError(
      `Cannot start Kafka as 'SERVICES_KAFKA_BROKERS' must be an integer from 1 to 9: current value is ${nodes}`,
    );
  }
  const cluster: KafkaNode[] = Array.from({ length: nodes }, (_, i) => ({
    id: i + 1,
    port: port + 2 * i,
    controllerPort: controllerPort + 2 * i,
    files: daemonFiles(root, nodes === 1 ? "kafka" : `kafka-${i + 1}`),
  }));
  const brokers = cluster.map((node) => `127.0.0.1:${node.port}`).join(",");
  const pids: number[] = [];
  const stopped: KafkaNode[] = [];
  for (const node of cluster) {
    const running = await runningPid(node.files);
    if (running !== null && await portOpen(node.port)) {
      pids.push(running);
      continue;
    }
    if (running === null && await portOpen(node.port)) {
      throw new Error(
        `Cannot start Kafka as port ${node.port} on 127.0.0.1 is taken by another process; stop it or set SERVICES_KAFKA_PORT`,
      );
    }
    pids.push(0);
    stopped.push(node);
  }
  if (stopped.length === 0) return { brokers, pids, started: [] };

  await runTool("java", ["-version"], JAVA);
  const libs = await fetchKafka(cache);
  const classpath = `${libs}/*`;
  const voters = cluster.map((node) =>
    `${node.id}@127.0.0.1:${node.controllerPort}`
  ).join(",");
  // Every node of a cluster is formatted with the same id: an existing
  // node's, or a new one.
  let clusterId: string | undefined;
  for (const node of cluster) {
    clusterId ??= await clusterIdOf(join(node.files.dir, "data"));
  }
  for (const node of stopped) {
    const data = join(node.files.dir, "data");
    const properties = join(node.files.dir, "server.properties");
    await stopDaemon(node.files);
    await Deno.mkdir(node.files.dir, { recursive: true });
    await Deno.writeTextFile(
      properties,
      serverProperties(node, voters, nodes, data),
    );
    await Deno.writeTextFile(join(node.files.dir, "log4j2.properties"), LOG4J2);
    if (!await exists(join(data, "meta.properties"))) {
      clusterId ??= (await runTool("java", [
        "-cp",
        classpath,
        "kafka.tools.StorageTool",
        "random-uuid",
      ], JAVA)).trim().split("\n").pop()!;
      await runTool("java", [
        "-cp",
        classpath,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        clusterId,
        "-c",
        properties,
      ], JAVA);
    }
    pids[node.id - 1] = await startDaemon(node.files, {
      command: "java",
      args: [
        "-Xms256m",
        "-Xmx768m",
        `-Dlog4j2.configurationFile=${
          join(node.files.dir, "log4j2.properties")
        }`,
        "-cp",
        classpath,
        "kafka.Kafka",
        properties,
      ],
    });
  }
  // A node of a cluster serves once a quorum of controllers runs: wait for all together.
  await Promise.all(
    stopped.map((node) =>
      waitUntilReady("Kafka", node.files, () => portOpen(node.port), 90_000)
    ),
  );
  return { brokers, pids, started: stopped.map((node) => node.id) };
}

/** Stops every node of Kafka that runs; their data stays for the next start. */
export async function stopKafka(root: string): Promise<boolean> {
  const names = ["kafka"];
  try {
    for await (const entry of Deno.readDir(root)) {
      if (entry.isDirectory && /^kafka-\d$/.test(entry.name)) {
        names.push(entry.name);
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const stopped = await Promise.all(
    names.map((name) => stopDaemon(daemonFiles(root, name), 30_000)),
  );
  return stopped.some(Boolean);
}

/** The cluster id a node's data was formatted with, if it was. */
async function clusterIdOf(data: string): Promise<string | undefined> {
  try {
    const meta = await Deno.readTextFile(join(data, "meta.properties"));
    return /^cluster\.id=(.+)$/m.exec(meta)?.[1].trim();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** The classpath directory of a fetched Kafka (for Kafka's own tools, e.g. the console consumer). */
export function kafkaLibs(cache: string): string {
  return join(cache, `kafka-${KAFKA_VERSION}`, "libs");
}

function serverProperties(
  node: KafkaNode,
  voters: string,
  nodes: number,
  data: string,
): string {
  // Internal topics take every node as a replica (3 at most), and need two in sync when they have three.
  const replicas = Math.min(nodes, 3);
  const minIsr = replicas >= 3 ? 2 : 1;
  return `# Written by dev/services/kafka.ts: node ${node.id} of ${nodes}, a combined broker and controller on loopback.
process.roles=broker,controller
node.id=${node.id}
controller.quorum.voters=${voters}
listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${data}
num.partitions=3
offsets.topic.replication.factor=${replicas}
transaction.state.log.replication.factor=${replicas}
transaction.state.log.min.isr=${minIsr}
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
`;
}

const LOG4J2 =
  `# Kafka's log: warnings and errors only, to stdout (the service's log file).
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = INFO
`;

function pom(): string {
  const dependency = (group: string, artifact: string, version: string) =>
    `    <dependency><groupId>${group}</groupId><artifactId>${artifact}</artifactId><version>${version}</version></dependency>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Fetches Kafka's runtime jars from Maven Central (written by dev/services/kafka.ts). -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.stocks-pipeline</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>${KAFKA_VERSION}</version>
  <dependencies>
${dependency("org.apache.kafka", "kafka_2.13", KAFKA_VERSION)}
${dependency("org.apache.kafka", "kafka-tools", KAFKA_VERSION)}
${dependency("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION)}
${dependency("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION)}
  </dependencies>
</project>
`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
