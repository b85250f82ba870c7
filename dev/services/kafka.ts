/**
 * A native Apache Kafka for development and CI: one combined broker and
 * controller in KRaft mode on loopback, from the official Maven Central
 * artifacts (fetched by Maven into the user cache), run with
 * `java … kafka.Kafka` after `kafka.tools.StorageTool format`.
 *
 * @module
 */
import { join } from "node:path";
import { runTool } from "../../lib/runtime/tool.ts";
import {
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
   * Broker port on 127.0.0.1.
   *
   * @default {19092}
   */
  port?: number;
  /**
   * Controller port on 127.0.0.1.
   *
   * @default {19093}
   */
  controllerPort?: number;
}

/** A running Kafka. */
export interface KafkaService {
  /** `127.0.0.1:<port>`. */
  brokers: string;
  /** Its pid. */
  pid: number;
  /** Whether this call started it (false: it was running already). */
  started: boolean;
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
 * Starts Kafka unless it is running already (then it is reused).
 *
 * @param options Directories and ports.
 * @returns The broker address.
 * @throws {FatalError} When Java or Maven is missing.
 * @throws {Error} When Kafka does not start.
 */
export async function startKafka(
  options: KafkaServiceOptions,
): Promise<KafkaService> {
  const { root, cache, port = 19092, controllerPort = 19093 } = options;
  const files = daemonFiles(root, "kafka");
  const brokers = `127.0.0.1:${port}`;
  const running = await runningPid(files);
  if (running !== null && await portOpen(port)) {
    return { brokers, pid: running, started: false };
  }
  if (running === null && await portOpen(port)) {
    throw new Error(
      `Cannot start Kafka as port ${port} on 127.0.0.1 is taken by another process; stop it or set SERVICES_KAFKA_PORT`,
    );
  }
  await stopDaemon(files);
  await runTool("java", ["-version"], JAVA);
  const libs = await fetchKafka(cache);
  const classpath = `${libs}/*`;

  const data = join(files.dir, "data");
  const properties = join(files.dir, "server.properties");
  await Deno.mkdir(files.dir, { recursive: true });
  await Deno.writeTextFile(
    properties,
    serverProperties(port, controllerPort, data),
  );
  await Deno.writeTextFile(join(files.dir, "log4j2.properties"), LOG4J2);
  if (!await exists(join(data, "meta.properties"))) {
    const clusterId = (await runTool("java", [
      "-cp",
      classpath,
      "kafka.tools.StorageTool",
      "random-uuid",
    ], JAVA)).trim()
      .split("\n").pop()!;
    await runTool(
      "java",
      [
        "-cp",
        classpath,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        clusterId,
        "-c",
        properties,
      ],
      JAVA,
    );
  }
  const pid = await startDaemon(files, {
    command: "java",
    args: [
      "-Xms256m",
      "-Xmx768m",
      `-Dlog4j2.configurationFile=${join(files.dir, "log4j2.properties")}`,
      "-cp",
      classpath,
      "kafka.Kafka",
      properties,
    ],
  });
  await waitUntilReady("Kafka", files, () => portOpen(port), 90_000);
  return { brokers, pid, started: true };
}

/** Stops Kafka if it runs; its data stays for the next start. */
export async function stopKafka(root: string): Promise<boolean> {
  return await stopDaemon(daemonFiles(root, "kafka"), 30_000);
}

/** The classpath directory of a fetched Kafka (for Kafka's own tools, e.g. the console consumer). */
export function kafkaLibs(cache: string): string {
  return join(cache, `kafka-${KAFKA_VERSION}`, "libs");
}

function serverProperties(
  port: number,
  controllerPort: number,
  data: string,
): string {
  return `# Written by dev/services/kafka.ts: one combined broker and controller on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${data}
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
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
