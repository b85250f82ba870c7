/**
 * A {@linkcode SnowflakeSession} over the Node driver, `npm:snowflake-sdk`:
 * password or key-pair authentication, one statement per call, and errors as
 * one line naming the account and user (never a secret, never a stack).
 *
 * @module
 */
import snowflake from "snowflake-sdk";
import type { Config } from "../../runtime/config.ts";
import { logger } from "../../runtime/log.ts";
import { FatalError } from "../../runtime/retry.ts";
import type { SnowflakeSession, StatementResult } from "./session.ts";

const log = logger("snowflake");

/** The driver's own log stays off unless LOG_LEVEL=debug; it is not redacted. */
function configureDriver(): void {
  snowflake.configure({
    logLevel: Deno.env.get("LOG_LEVEL") === "debug" ? "DEBUG" : "OFF",
    additionalLogToConsole: false,
  });
}

/**
 * Connects to Snowflake as the loader.
 *
 * @param config Account, user, credentials, role, warehouse and database.
 * @returns A connected session (schema RAW).
 * @throws {FatalError} When a setting is missing, or Snowflake refuses the
 * account or the credentials, or cannot be reached: one line that says which.
 */
export async function connectSnowflake(
  config: Config,
): Promise<SnowflakeSession> {
  const account = config.snowflakeAccount;
  const user = config.snowflakeUser;
  if (!account || !user) {
    throw new FatalError(
      `Cannot use WAREHOUSE=snowflake as SNOWFLAKE_ACCOUNT and SNOWFLAKE_USER must be set: current values are ${
        JSON.stringify(account ?? null)
      } and ${JSON.stringify(user ?? null)}`,
    );
  }
  const keyPath = config.snowflakePrivateKeyPath;
  if (!keyPath && !config.snowflakePassword) {
    throw new FatalError(
      "Cannot use WAREHOUSE=snowflake as it needs SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH (key-pair authentication): both are unset",
    );
  }
  configureDriver();
  const credentials = keyPath
    ? {
      authenticator: "SNOWFLAKE_JWT",
      privateKeyPath: keyPath,
      privateKeyPass: config.snowflakePrivateKeyPassphrase,
    }
    : { password: config.snowflakePassword };
  const connection = snowflake.createConnection({
    account,
    username: user,
    ...credentials,
    role: config.snowflakeLoaderRole,
    warehouse: config.snowflakeWarehouse,
    database: config.snowflakeDatabase,
    schema: "RAW",
    application: "stocks-pipeline",
    ...(config.snowflakeAccessUrl
      ? { accessUrl: config.snowflakeAccessUrl }
      : {}),
    // A bad account or an unreachable endpoint fails in seconds, not minutes.
    timeout: 60_000,
    sfRetryMaxLoginRetries: 2,
  } as snowflake.ConnectionOptions);
  const where = `Snowflake account '${account}' as user '${user}'`;
  try {
    await new Promise<void>((resolve, reject) =>
      connection.connect((error) => error ? reject(error) : resolve())
    );
  } catch (error) {
    throw new FatalError(
      `Cannot connect to ${where}: ${oneLine(error)}`,
    );
  }
  log.info("connected", { account, user, database: config.snowflakeDatabase });
  return new DriverSession(
    connection,
    `snowflake://${account}/${config.snowflakeDatabase}`,
  );
}

class DriverSession implements SnowflakeSession {
  readonly location: string;
  #connection: snowflake.Connection;

  constructor(connection: snowflake.Connection, location: string) {
    this.#connection = connection;
    this.location = location;
  }

  execute(
    sql: string,
    binds: (string | number)[] = [],
  ): Promise<StatementResult> {
    return new Promise((resolve, reject) => {
      this.#connection.execute({
        sqlText: sql,
        binds,
        complete: (error, statement, rows) => {
          if (error) {
            reject(
              new Error(
                `Snowflake refused a statement (${
                  sql.trim().split(/\s+/).slice(0, 3).join(" ")
                } …): ${oneLine(error)}`,
              ),
            );
          } else {
            resolve({
              rows: (rows ?? []) as Record<string, unknown>[],
              queryId: statement.getQueryId(),
            });
          }
        },
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#connection.destroy(() => resolve()));
  }
}

/** A driver error as one line: its message, and Snowflake's code when it has one. */
function oneLine(error: unknown): string {
  const { message = String(error), code } = error as {
    message?: string;
    code?: string | number;
  };
  const text = message.replace(/\s+/g, " ").trim();
  return code !== undefined ? `${text} (code ${code})` : text;
}
