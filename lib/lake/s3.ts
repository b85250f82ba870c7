/**
 * The lake in an S3 bucket (AWS, or MinIO and other S3-compatible servers),
 * through `@aws-sdk/client-s3`.
 *
 * A PUT is conditional (`If-None-Match: *`): it never replaces an object.
 * It is durable once S3 answered it; when the key exists already, the write
 * succeeds only if the object there holds the same events (a retried
 * upload), and otherwise throws {@linkcode ObjectConflictError}. Failures come out
 * as {@linkcode RetriableError} (the network, a 5xx, throttling) or
 * {@linkcode FatalError} (credentials, permissions, a missing bucket) with a
 * one-line message that never holds a credential; a missing object is
 * `Deno.errors.NotFound`, as in the local lake.
 *
 * @module
 */
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  type CreateBucketCommandInput,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import {
  type Lake,
  type LakeObject,
  type ListOptions,
  ObjectConflictError,
  sameObject,
} from "./lake.ts";
import { logger, redact, registerSecret } from "../runtime/log.ts";
import { FatalError, RetriableError } from "../runtime/retry.ts";

const log = logger("s3");

/** Options of {@linkcode S3Lake}. */
export interface S3LakeOptions {
  /** The bucket, named by S3's rules ({@linkcode validateBucketName}). */
  bucket: string;
  /**
   * Endpoint URL of an S3-compatible server such as MinIO
   * (`http://localhost:9000`); addressing is then path-style. Unset means
   * AWS's own endpoint for the region.
   */
  endpoint?: string;
  /**
   * Region.
   *
   * @default {"us-east-1"}
   */
  region?: string;
  /** Access key id; used only together with {@linkcode S3LakeOptions.secretAccessKey}. */
  accessKeyId?: string;
  /**
   * Secret access key; with {@linkcode S3LakeOptions.accessKeyId}. When either
   * is unset the SDK's default credential chain applies (environment,
   * profile, instance role).
   */
  secretAccessKey?: string;
  /**
   * Attempts of one request by the SDK, with its backoff, before a failure
   * reaches the caller.
   *
   * @default {3}
   */
  maxAttempts?: number;
  /**
   * Milliseconds one request may take before it fails (retriably).
   *
   * @default {60000}
   */
  requestTimeoutMs?: number;
  /**
   * A client to use instead of building one (tests); the lake then ignores
   * the endpoint, region, credential and timeout options for requests and
   * does not destroy the client on {@linkcode S3Lake.close}.
   */
  client?: S3Client;
}

/**
 * Checks a bucket name against S3's naming rules: 3 to 63 lowercase letters,
 * digits, dots and hyphens, beginning and ending with a letter or digit, no
 * `..`, not shaped like an IP address, and none of the reserved prefixes
 * (`xn--`, `sthree-`, `amzn-s3-demo-`) and suffixes (`-s3alias`, `--ol-s3`,
 * `.mrap`, `--x-s3`, `--table-s3`).
 *
 * @param name The bucket name.
 * @throws {RangeError} When the name breaks a rule.
 */
export function validateBucketName(name: string): void {
  const reserved =
    ["xn--", "sthree-", "amzn-s3-demo-"].find((prefix) =>
      name.startsWith(prefix)
    ) ??
      ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"].find((suffix) =>
        name.endsWith(suffix)
      );
  const problem = !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)
    ? "be 3 to 63 lowercase letters, digits, '.' or '-', beginning and ending with a letter or digit"
    : name.includes("..")
    ? "not contain '..'"
    : /^\d{1,3}(\.\d{1,3}){3}$/.test(name)
    ? "not be shaped like an IP address"
    : reserved !== undefined
    ? `not use the reserved affix '${reserved}'`
    : undefined;
  if (problem !== undefined) {
    throw new RangeError(
      `Cannot use the S3 bucket as 'bucket' must ${problem}: current value is ${
        JSON.stringify(name)
      }`,
    );
  }
}

/**
 * The content type of an object by its key: `.gz` → `application/gzip`,
 * `.ndjson` → `application/x-ndjson`, `.json` → `application/json`, else
 * `application/octet-stream`. Gzipped objects get no `Content-Encoding`, so
 * no client unzips them on the way down.
 *
 * @param key The object key.
 * @returns The content type.
 */
export function contentTypeFor(key: string): string {
  if (key.endsWith(".gz")) return "application/gzip";
  if (key.endsWith(".ndjson")) return "application/x-ndjson";
  if (key.endsWith(".json")) return "application/json";
  return "application/octet-stream";
}

/** What a failed S3 request means for the caller. */
export type S3ErrorKind = "retriable" | "fatal" | "not-found";

const FATAL_CODES = new Set([
  "AccessDenied",
  "AllAccessDisabled",
  "AccountProblem",
  "ExpiredToken",
  "InvalidAccessKeyId",
  "InvalidBucketName",
  "InvalidToken",
  "NoSuchBucket",
  "SignatureDoesNotMatch",
]);
const RETRIABLE_CODES = new Set([
  "InternalError",
  "OperationAborted",
  "RequestTimeTooSkewed",
  "RequestTimeout",
  "RequestTimeoutException",
  "ServiceUnavailable",
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "TimeoutError",
  "TooManyRequests",
  "TooManyRequestsException",
]);
const NOT_FOUND_CODES = new Set(["NoSuchKey", "NotFound"]);

/** The shape of errors thrown by `@aws-sdk/client-s3`. */
interface SdkErrorShape {
  name?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/**
 * Classifies a failure of an S3 request, from the fields the SDK sets on its
 * errors (`name`, `$metadata.httpStatusCode`, `$fault`):
 *
 * - `"fatal"`: credentials or permissions are wrong, or the bucket is missing
 *   (`AccessDenied`, `InvalidAccessKeyId`, `SignatureDoesNotMatch`,
 *   `NoSuchBucket`, …), or any other 4xx: retrying cannot help;
 * - `"not-found"`: the object does not exist (`NoSuchKey`, or a 404);
 * - `"retriable"`: throttling (`SlowDown`, 429), timeouts (408,
 *   `RequestTimeout`), server faults (5xx, `$fault: "server"`) and network
 *   failures (no HTTP status at all: refused, reset, DNS).
 *
 * @param error What the SDK threw.
 * @returns The kind of failure.
 */
export function classifyS3Error(error: unknown): S3ErrorKind {
  if (typeof error !== "object" || error === null) return "fatal";
  const { name, $fault, $metadata } = error as SdkErrorShape;
  const status = $metadata?.httpStatusCode;
  if (typeof name === "string") {
    if (FATAL_CODES.has(name)) return "fatal";
    if (NOT_FOUND_CODES.has(name)) return "not-found";
    if (RETRIABLE_CODES.has(name)) return "retriable";
  }
  if (typeof status === "number") {
    if (status >= 500 || status === 429 || status === 408) return "retriable";
    if (status === 404) return "not-found";
    if (status >= 400) return "fatal";
  }
  if ($fault === "server") return "retriable";
  if ($fault === "client") return "fatal";
  // No HTTP answer at all: the request never reached S3 or its answer was lost.
  return "retriable";
}

const FATAL_REASONS: Record<string, string> = {
  AccessDenied:
    "access was denied (AccessDenied): check the credentials' permissions and the bucket policy",
  InvalidAccessKeyId:
    "the access key id is unknown (InvalidAccessKeyId): check AWS_ACCESS_KEY_ID",
  SignatureDoesNotMatch:
    "the request signature does not match (SignatureDoesNotMatch): check AWS_SECRET_ACCESS_KEY",
  NoSuchBucket:
    "the bucket does not exist (NoSuchBucket): check S3_BUCKET or create the bucket",
};

/**
 * Turns a failure of an S3 request into the error the lake throws: a
 * {@linkcode RetriableError}, a {@linkcode FatalError} or a
 * `Deno.errors.NotFound`, each with `cause` set and a one-line message
 * `Cannot <action> as <reason>` from which registered secrets are removed.
 *
 * @param action What failed, e.g. `put object 'k' in s3://bucket`.
 * @param error What the SDK threw.
 * @returns The error to throw.
 */
export function s3Error(action: string, error: unknown): Error {
  const kind = classifyS3Error(error);
  const name = typeof error === "object" && error !== null &&
      typeof (error as { name?: unknown }).name === "string"
    ? (error as { name: string }).name
    : "Error";
  const detail = error instanceof Error ? error.message : String(error);
  const reason = FATAL_REASONS[name] ??
    (kind === "not-found" ? "it does not exist" : `${name}: ${detail}`);
  const message = redact(`Cannot ${action} as ${reason}`).replace(/\s+/g, " ");
  const options = { cause: error };
  if (kind === "retriable") return new RetriableError(message, options);
  if (kind === "not-found") return new Deno.errors.NotFound(message, options);
  return new FatalError(message, options);
}

/** A lake in an S3 bucket. */
export class S3Lake implements Lake {
  /** `s3://bucket`, plus the endpoint when not AWS's; never credentials. */
  readonly location: string;
  /** The bucket. */
  readonly bucket: string;
  readonly #client: S3Client;
  readonly #ownsClient: boolean;
  readonly #region: string;

  /**
   * Opens the lake; nothing is sent until a method is called.
   *
   * @param options Bucket, endpoint, region and credentials.
   * @throws {RangeError} When the bucket name breaks S3's rules, or the
   * endpoint is not an http(s) URL.
   */
  constructor(options: S3LakeOptions) {
    const {
      bucket,
      endpoint,
      region = "us-east-1",
      accessKeyId,
      secretAccessKey,
      maxAttempts = 3,
      requestTimeoutMs = 60_000,
      client,
    } = options;
    validateBucketName(bucket);
    registerSecret(accessKeyId);
    registerSecret(secretAccessKey);
    let endpointUrl: URL | undefined;
    if (endpoint !== undefined) {
      endpointUrl = URL.parse(endpoint) ?? undefined;
      if (
        endpointUrl === undefined ||
        !["http:", "https:"].includes(endpointUrl.protocol)
      ) {
        throw new RangeError(
          `Cannot use the S3 endpoint as 'endpoint' must be an http(s) URL: current value is ${
            JSON.stringify(redact(endpoint))
          }`,
        );
      }
    }
    this.bucket = bucket;
    this.#region = region;
    this.location = endpointUrl === undefined
      ? `s3://${bucket}`
      : `s3://${bucket} (endpoint ${endpointUrl.protocol}//${endpointUrl.host})`;
    if (client !== undefined) {
      this.#client = client;
      this.#ownsClient = false;
      return;
    }
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
      log.warn(
        "only one of the access key id and secret access key is set; using the default credential chain",
        { bucket },
      );
    }
    const config: S3ClientConfig = {
      region,
      maxAttempts,
      requestHandler: {
        connectionTimeout: Math.min(requestTimeoutMs, 10_000),
        requestTimeout: requestTimeoutMs,
        throwOnRequestTimeout: true,
      },
    };
    if (endpoint !== undefined) {
      config.endpoint = endpoint;
      config.forcePathStyle = true;
    }
    if (accessKeyId !== undefined && secretAccessKey !== undefined) {
      config.credentials = { accessKeyId, secretAccessKey };
    }
    this.#client = new S3Client(config);
    this.#ownsClient = true;
  }

  /**
   * Writes an object, replacing any object under the key; resolves once S3
   * answered the PUT.
   *
   * @param key The object key.
   * @param body The object's bytes.
   * @throws {RangeError} When the key is empty or longer than 1024 bytes.
   * @throws {RetriableError} On a network fault, a 5xx or throttling.
   * @throws {FatalError} When credentials, permissions or the bucket are wrong.
   * @throws {ObjectConflictError} When the key holds other content already.
   */
  async put(key: string, body: Uint8Array): Promise<void> {
    checkKey(key);
    try {
      // A conditional write: never replace an object (If-None-Match: *).
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: contentTypeFor(key),
          IfNoneMatch: "*",
        }),
      );
    } catch (error) {
      if (!isPreconditionFailed(error)) {
        throw s3Error(`put object '${key}' in ${this.location}`, error);
      }
      // The key exists: a retried upload of the same events is fine.
      if (!await sameObject(await this.get(key), body)) {
        throw new ObjectConflictError(this.location, key);
      }
    }
  }

  /**
   * Reads an object whole.
   *
   * @param key The object key.
   * @returns The object's bytes.
   * @throws {Deno.errors.NotFound} When no object has the key.
   * @throws {RetriableError} On a network fault, a 5xx or throttling.
   * @throws {FatalError} When credentials, permissions or the bucket are wrong.
   */
  async get(key: string): Promise<Uint8Array> {
    checkKey(key);
    try {
      const response = await this.#client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      return response.Body === undefined
        ? new Uint8Array()
        : await response.Body.transformToByteArray();
    } catch (error) {
      throw s3Error(`get object '${key}' from ${this.location}`, error);
    }
  }

  /**
   * Lists every object under `prefix` in key order, following continuation
   * tokens page after page (S3 returns at most 1,000 keys a page); with
   * `startAfter`, from the first key after it.
   *
   * @param prefix Keys start with it; `""` lists the whole bucket.
   * @param options Where the listing starts.
   * @throws {RetriableError} On a network fault, a 5xx or throttling.
   * @throws {FatalError} When credentials, permissions or the bucket are wrong,
   * or the server claims more pages without a continuation token.
   */
  async *list(
    prefix: string,
    options: ListOptions = {},
  ): AsyncIterable<LakeObject> {
    for await (const page of this.#pages(prefix, options, false)) {
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) {
          yield { key: object.Key, size: object.Size ?? 0 };
        }
      }
    }
  }

  /**
   * Lists the folders directly under `prefix`: the common prefixes of a
   * listing with the delimiter `/`, in key order.
   *
   * @param prefix Ends in `/`; `""` lists the bucket's top folders.
   * @param options Where the listing starts.
   * @throws {RetriableError} On a network fault, a 5xx or throttling.
   * @throws {FatalError} As {@linkcode S3Lake.list} does.
   */
  async *folders(
    prefix: string,
    options: ListOptions = {},
  ): AsyncIterable<string> {
    for await (const page of this.#pages(prefix, options, true)) {
      for (const common of page.CommonPrefixes ?? []) {
        if (common.Prefix !== undefined) yield common.Prefix;
      }
    }
  }

  async *#pages(
    prefix: string,
    { startAfter }: ListOptions,
    folders: boolean,
  ): AsyncGenerator<ListObjectsV2CommandOutput> {
    const action = `list ${
      folders ? "folders" : "objects"
    } under '${prefix}' in ${this.location}`;
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
            StartAfter: token === undefined ? startAfter : undefined,
            Delimiter: folders ? "/" : undefined,
          }),
        );
      } catch (error) {
        throw s3Error(action, error);
      }
      yield page;
      if (page.IsTruncated && !page.NextContinuationToken) {
        throw new FatalError(
          `Cannot ${action} as the server reported more pages without a continuation token`,
        );
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /**
   * Creates the bucket if it does not exist (development and tests; in
   * production the bucket comes with its policy from infrastructure code).
   *
   * @throws {RetriableError} On a network fault, a 5xx or throttling.
   * @throws {FatalError} When the credentials may not see or create the bucket.
   */
  async ensureBucket(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (error) {
      if (classifyS3Error(error) !== "not-found") {
        throw s3Error(`check bucket ${this.location}`, error);
      }
    }
    const input: CreateBucketCommandInput = { Bucket: this.bucket };
    if (this.#region !== "us-east-1") {
      input.CreateBucketConfiguration = {
        LocationConstraint: this.#region as BucketLocationConstraint,
      };
    }
    try {
      await this.#client.send(new CreateBucketCommand(input));
      log.info("created bucket", { location: this.location });
    } catch (error) {
      const name = (error as { name?: unknown }).name;
      if (name === "BucketAlreadyOwnedByYou") return;
      throw s3Error(`create bucket ${this.location}`, error);
    }
  }

  /** Releases the client's connections, unless the client was passed in. */
  close(): void {
    if (this.#ownsClient) this.#client.destroy();
  }
}

function checkKey(key: string): void {
  const bytes = new TextEncoder().encode(key).length;
  if (bytes === 0 || bytes > 1024) {
    throw new RangeError(
      `Cannot use the object key as 'key' must be 1 to 1024 bytes of UTF-8: current value is ${
        JSON.stringify(key.slice(0, 100))
      }`,
    );
  }
}

/** Whether an SDK error is S3's 412 to a conditional write: the key exists. */
function isPreconditionFailed(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.$metadata?.httpStatusCode === 412 ||
    e?.name === "PreconditionFailed";
}
