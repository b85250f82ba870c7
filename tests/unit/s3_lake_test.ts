import assert from "node:assert/strict";
import { S3Client } from "@aws-sdk/client-s3";
import {
  classifyS3Error,
  contentTypeFor,
  s3Error,
  S3Lake,
  validateBucketName,
} from "../../lib/lake/s3.ts";
import { eventKey } from "../../lib/lake/keys.ts";
import { decodeLines, encodeLines } from "../../lib/lake/ndjson.ts";
import { FatalError, RetriableError } from "../../lib/runtime/retry.ts";
import { setLogSink } from "../../lib/runtime/log.ts";

const ACCESS_KEY_ID = "test-access-key-id";
const SECRET_ACCESS_KEY = "test-secret-access-key-0123456789";

/** A stored object of the fake server. */
interface StoredObject {
  body: Uint8Array;
  contentType: string | null;
  contentEncoding: string | null;
}

/** A failure the fake server answers the next matching request with. */
interface Failure {
  method: string;
  status: number;
  code: string;
  message: string;
}

/**
 * A tiny S3-compatible server on 127.0.0.1, path-style, speaking just enough
 * of S3 for the lake: HeadBucket, CreateBucket, PutObject, GetObject and
 * ListObjectsV2 (1,000 keys a page), plus queued error answers.
 */
class FakeS3 {
  readonly buckets = new Set<string>();
  readonly objects = new Map<string, StoredObject>();
  readonly requests: { method: string; url: URL }[] = [];
  readonly failures: Failure[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  constructor(bucket?: string) {
    if (bucket !== undefined) this.buckets.add(bucket);
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const method = request.method;
    this.requests.push({ method, url });
    const body = method === "PUT" ? await request.bytes() : undefined;
    const failure = this.failures.findIndex((f) => f.method === method);
    if (failure !== -1) {
      const { status, code, message } = this.failures.splice(failure, 1)[0];
      return error(status, code, message);
    }
    const [, bucket, ...rest] = url.pathname.split("/");
    const key = decodeURIComponent(rest.join("/"));
    if (key === "") {
      if (method === "HEAD") {
        return new Response(null, {
          status: this.buckets.has(bucket) ? 200 : 404,
        });
      }
      if (method === "PUT") {
        this.buckets.add(bucket);
        return new Response(null, { status: 200 });
      }
      if (!this.buckets.has(bucket)) {
        return error(404, "NoSuchBucket", "The bucket does not exist");
      }
      if (method === "GET" && url.searchParams.get("list-type") === "2") {
        return this.#list(url.searchParams);
      }
      return error(400, "InvalidRequest", "Unsupported by the fake");
    }
    if (!this.buckets.has(bucket)) {
      return error(404, "NoSuchBucket", "The bucket does not exist");
    }
    if (method === "PUT") {
      this.objects.set(key, {
        body: body!,
        contentType: request.headers.get("content-type"),
        contentEncoding: request.headers.get("content-encoding"),
      });
      return new Response(null, { status: 200, headers: { ETag: '"etag"' } });
    }
    if (method === "GET") {
      const object = this.objects.get(key);
      if (object === undefined) {
        return error(404, "NoSuchKey", "The key does not exist");
      }
      return new Response(object.body as BodyInit, {
        headers: { "Content-Type": object.contentType ?? "" },
      });
    }
    return error(400, "InvalidRequest", "Unsupported by the fake");
  }

  #list(params: URLSearchParams): Response {
    const prefix = params.get("prefix") ?? "";
    const token = params.get("continuation-token");
    const keys = [...this.objects.keys()]
      .filter((key) => key.startsWith(prefix))
      .sort();
    const start = token === null ? 0 : Number(atob(token));
    const page = keys.slice(start, start + 1_000);
    const truncated = start + page.length < keys.length;
    const contents = page.map((key) =>
      `<Contents><Key>${xml(key)}</Key>` +
      `<LastModified>2024-01-02T00:00:00.000Z</LastModified>` +
      `<ETag>&quot;etag&quot;</ETag><Size>${
        this.objects.get(key)!.body.length
      }</Size>` +
      `<StorageClass>STANDARD</StorageClass></Contents>`
    ).join("");
    const next = truncated
      ? `<NextContinuationToken>${
        btoa(String(start + page.length))
      }</NextContinuationToken>`
      : "";
    return new Response(
      `<?xml version="1.0" encoding="UTF-8"?>` +
        `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
        `<Name>bucket</Name><Prefix>${xml(prefix)}</Prefix>` +
        `<KeyCount>${page.length}</KeyCount><MaxKeys>1000</MaxKeys>` +
        `<IsTruncated>${truncated}</IsTruncated>${contents}${next}` +
        `</ListBucketResult>`,
      { headers: { "Content-Type": "application/xml" } },
    );
  }
}

function xml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  );
}

function error(status: number, code: string, message: string): Response {
  return new Response(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code>` +
      `<Message>${xml(message)}</Message><RequestId>req-1</RequestId></Error>`,
    { status, headers: { "Content-Type": "application/xml" } },
  );
}

/** A lake with its own client pointed at `endpoint`, with dummy credentials. */
function lakeAt(endpoint: string, maxAttempts = 1): S3Lake {
  return new S3Lake({
    bucket: "quotes",
    endpoint,
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: SECRET_ACCESS_KEY,
    maxAttempts,
  });
}

/** A port on 127.0.0.1 that nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** An SDK-shaped error, as `@aws-sdk/client-s3` throws them. */
function sdkError(
  name: string,
  status?: number,
  fault?: "client" | "server",
  message = `${name} happened`,
): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: fault,
    $metadata: status === undefined ? { attempts: 3 } : {
      httpStatusCode: status,
    },
  });
}

Deno.test("validateBucketName() accepts names that follow S3's rules", () => {
  for (
    const name of [
      "quotes",
      "stock-quotes-lake",
      "a.b.c",
      "abc",
      "1-2",
      "x".repeat(63),
    ]
  ) {
    validateBucketName(name);
  }
});

Deno.test("validateBucketName() rejects names that break S3's rules", () => {
  const shape =
    "be 3 to 63 lowercase letters, digits, '.' or '-', beginning and ending with a letter or digit";
  const cases: [string, string][] = [
    ["ab", shape],
    ["x".repeat(64), shape],
    ["Quotes", shape],
    ["quotes_lake", shape],
    ["-quotes", shape],
    ["quotes.", shape],
    ["s3://quotes", shape],
    ["quotes..lake", "not contain '..'"],
    ["192.168.1.1", "not be shaped like an IP address"],
    ["xn--quotes", "not use the reserved affix 'xn--'"],
    ["sthree-quotes", "not use the reserved affix 'sthree-'"],
    ["quotes-s3alias", "not use the reserved affix '-s3alias'"],
    ["quotes--ol-s3", "not use the reserved affix '--ol-s3'"],
  ];
  for (const [name, problem] of cases) {
    assert.throws(() => validateBucketName(name), {
      name: "RangeError",
      message:
        `Cannot use the S3 bucket as 'bucket' must ${problem}: current value is ${
          JSON.stringify(name)
        }`,
    }, name);
  }
});

Deno.test("S3Lake rejects a bad bucket name or endpoint before any request", () => {
  assert.throws(() => new S3Lake({ bucket: "Bad_Bucket" }), {
    name: "RangeError",
  });
  assert.throws(
    () => new S3Lake({ bucket: "quotes", endpoint: "minio:9000" }),
    {
      name: "RangeError",
      message:
        `Cannot use the S3 endpoint as 'endpoint' must be an http(s) URL: current value is "minio:9000"`,
    },
  );
});

Deno.test("S3Lake.location names the bucket and endpoint host, never credentials", () => {
  const aws = new S3Lake({
    bucket: "quotes",
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: SECRET_ACCESS_KEY,
  });
  const minio = new S3Lake({
    bucket: "quotes",
    endpoint: "http://admin:hunter2-password@minio:9000/some/path?x=1",
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: SECRET_ACCESS_KEY,
  });
  try {
    assert.equal(aws.location, "s3://quotes");
    assert.equal(minio.location, "s3://quotes (endpoint http://minio:9000)");
    for (const location of [aws.location, minio.location]) {
      assert.doesNotMatch(location, /test-|hunter2|admin/);
    }
  } finally {
    aws.close();
    minio.close();
  }
});

Deno.test("contentTypeFor() marks gzipped objects application/gzip", () => {
  assert.equal(
    contentTypeFor("stock-quotes/dt=2024-01-02/partition=0/x.ndjson.gz"),
    "application/gzip",
  );
  assert.equal(contentTypeFor("a.ndjson"), "application/x-ndjson");
  assert.equal(contentTypeFor("a.json"), "application/json");
  assert.equal(contentTypeFor("a.bin"), "application/octet-stream");
});

Deno.test("classifyS3Error() sorts SDK errors into retriable, fatal and not-found", () => {
  const cases: [Error, string][] = [
    [sdkError("AccessDenied", 403, "client"), "fatal"],
    [sdkError("NoSuchBucket", 404, "client"), "fatal"],
    [sdkError("InvalidAccessKeyId", 403, "client"), "fatal"],
    [sdkError("SignatureDoesNotMatch", 403, "client"), "fatal"],
    [sdkError("InvalidArgument", 400, "client"), "fatal"],
    [sdkError("Forbidden", 403), "fatal"],
    [sdkError("NoSuchKey", 404, "client"), "not-found"],
    [sdkError("NotFound", 404, "client"), "not-found"],
    [sdkError("SlowDown", 503, "server"), "retriable"],
    [sdkError("InternalError", 500, "server"), "retriable"],
    [sdkError("ServiceUnavailable", 503, "server"), "retriable"],
    [sdkError("RequestTimeout", 400, "client"), "retriable"],
    [sdkError("TooManyRequests", 429), "retriable"],
    [sdkError("Unknown", 502), "retriable"],
    [sdkError("Unknown", undefined, "server"), "retriable"],
    [sdkError("TimeoutError"), "retriable"],
    [
      Object.assign(new Error("connect ECONNREFUSED"), {
        code: "ECONNREFUSED",
      }),
      "retriable",
    ],
  ];
  for (const [error, kind] of cases) {
    assert.equal(classifyS3Error(error), kind, error.name);
  }
  assert.equal(classifyS3Error(undefined), "fatal");
});

Deno.test("s3Error() gives one-line messages and the right class", () => {
  const action = "put object 'k' in s3://quotes";
  const cases: [Error, new (message: string) => Error, string][] = [
    [
      sdkError("AccessDenied", 403, "client"),
      FatalError,
      "access was denied (AccessDenied): check the credentials' permissions and the bucket policy",
    ],
    [
      sdkError("InvalidAccessKeyId", 403, "client"),
      FatalError,
      "the access key id is unknown (InvalidAccessKeyId): check AWS_ACCESS_KEY_ID",
    ],
    [
      sdkError("SignatureDoesNotMatch", 403, "client"),
      FatalError,
      "the request signature does not match (SignatureDoesNotMatch): check AWS_SECRET_ACCESS_KEY",
    ],
    [
      sdkError("NoSuchBucket", 404, "client"),
      FatalError,
      "the bucket does not exist (NoSuchBucket): check S3_BUCKET or create the bucket",
    ],
    [
      sdkError("SlowDown", 503, "server", "Please reduce\nyour request rate."),
      RetriableError,
      "SlowDown: Please reduce your request rate.",
    ],
    [
      sdkError("NoSuchKey", 404, "client"),
      Deno.errors.NotFound,
      "it does not exist",
    ],
  ];
  for (const [cause, errorClass, reason] of cases) {
    const error = s3Error(action, cause);
    assert.ok(error instanceof errorClass, cause.name);
    assert.equal(error.message, `Cannot ${action} as ${reason}`);
    assert.equal(error.cause, cause);
  }
});

Deno.test("s3Error() never puts the secret key in a message", () => {
  const lake = new S3Lake({
    bucket: "quotes",
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: SECRET_ACCESS_KEY,
  });
  lake.close();
  const leaky = sdkError(
    "InvalidRequest",
    400,
    "client",
    `bad header x-secret: ${SECRET_ACCESS_KEY}`,
  );
  const error = s3Error("put object 'k' in s3://quotes", leaky);
  assert.ok(error instanceof FatalError);
  assert.ok(!error.message.includes(SECRET_ACCESS_KEY), error.message);
  assert.match(error.message, /x-secret: \*\*\*$/);
});

Deno.test("S3Lake.list() walks every page of a 2,500-object listing in key order", async () => {
  const server = new FakeS3("quotes");
  const keys: string[] = [];
  for (let i = 0; i < 2_500; i++) {
    const key = eventKey("2024-01-02", {
      streamId: "kafka:test-cluster",
      topic: "stock-quotes",
      partition: i % 3,
      firstOffset: i * 10,
      lastOffset: i * 10 + 9,
    });
    keys.push(key);
    server.objects.set(key, {
      body: new Uint8Array(i % 7),
      contentType: null,
      contentEncoding: null,
    });
  }
  server.objects.set("dead-letter/stock-quotes/date=2024-01-02/x.ndjson.gz", {
    body: new Uint8Array(1),
    contentType: null,
    contentEncoding: null,
  });
  const client = new S3Client({
    endpoint: server.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: {
      accessKeyId: ACCESS_KEY_ID,
      secretAccessKey: SECRET_ACCESS_KEY,
    },
  });
  const lake = new S3Lake({ bucket: "quotes", client });
  try {
    const listed = await Array.fromAsync(
      lake.list("stock-quotes/dt=2024-01-02/"),
    );
    keys.sort();
    assert.equal(listed.length, 2_500);
    assert.deepEqual(listed.map((object) => object.key), keys);
    assert.deepEqual(
      listed.map((object) => object.size),
      keys.map((key) => server.objects.get(key)!.body.length),
    );
    const pages = server.requests.filter(({ url }) =>
      url.searchParams.get("list-type") === "2"
    );
    assert.equal(pages.length, 3);
    assert.deepEqual(
      pages.map(({ url }) => url.searchParams.get("prefix")),
      [
        "stock-quotes/dt=2024-01-02/",
        "stock-quotes/dt=2024-01-02/",
        "stock-quotes/dt=2024-01-02/",
      ],
    );
    assert.deepEqual(
      pages.map(({ url }) => url.searchParams.get("continuation-token")),
      [null, btoa("1000"), btoa("2000")],
    );
    assert.equal((await Array.fromAsync(lake.list(""))).length, 2_501);
    assert.deepEqual(await Array.fromAsync(lake.list("nothing/")), []);
  } finally {
    client.destroy();
    await server.close();
  }
});

Deno.test("S3Lake.put() stores gzipped NDJSON as application/gzip without Content-Encoding, and get() reads it back", async () => {
  const server = new FakeS3("quotes");
  const lake = lakeAt(server.endpoint);
  try {
    const key = eventKey("2024-01-02", {
      streamId: "kafka:test-cluster",
      topic: "stock-quotes",
      partition: 1,
      firstOffset: 5,
      lastOffset: 6,
    });
    const body = await encodeLines(['{"a":1}', '{"a":2}']);
    await lake.put(key, body);
    const stored = server.objects.get(key)!;
    assert.deepEqual(stored.body, body);
    assert.equal(stored.contentType, "application/gzip");
    assert.equal(stored.contentEncoding, null);
    const read = await lake.get(key);
    assert.deepEqual(read, body);
    assert.deepEqual(await decodeLines(read), ['{"a":1}', '{"a":2}']);
    const put = server.requests.find(({ method }) => method === "PUT")!;
    assert.equal(put.url.pathname.startsWith("/quotes/stock-quotes/"), true);
  } finally {
    lake.close();
    await server.close();
  }
});

Deno.test("S3Lake.get() of a missing key throws Deno.errors.NotFound", async () => {
  const server = new FakeS3("quotes");
  const lake = lakeAt(server.endpoint);
  try {
    await assert.rejects(() => lake.get("nothing/here.ndjson.gz"), {
      name: "NotFound",
      message:
        `Cannot get object 'nothing/here.ndjson.gz' from ${lake.location} as it does not exist`,
    });
  } finally {
    lake.close();
    await server.close();
  }
});

Deno.test("S3Lake.put() answered SignatureDoesNotMatch throws a FatalError without the secret", async () => {
  const server = new FakeS3("quotes");
  server.failures.push({
    method: "PUT",
    status: 403,
    code: "SignatureDoesNotMatch",
    message: "The request signature we calculated does not match.",
  });
  const lake = lakeAt(server.endpoint, 3);
  try {
    await assert.rejects(() => lake.put("k.ndjson.gz", new Uint8Array([1])), {
      name: "FatalError",
      message:
        `Cannot put object 'k.ndjson.gz' in ${lake.location} as the request signature does not match (SignatureDoesNotMatch): check AWS_SECRET_ACCESS_KEY`,
    });
    // Not retried: one request only.
    assert.equal(server.requests.length, 1);
  } finally {
    lake.close();
    await server.close();
  }
});

Deno.test("S3Lake.put() to a missing bucket throws a FatalError", async () => {
  const server = new FakeS3();
  const lake = lakeAt(server.endpoint);
  try {
    await assert.rejects(() => lake.put("k.ndjson.gz", new Uint8Array([1])), {
      name: "FatalError",
      message:
        `Cannot put object 'k.ndjson.gz' in ${lake.location} as the bucket does not exist (NoSuchBucket): check S3_BUCKET or create the bucket`,
    });
  } finally {
    lake.close();
    await server.close();
  }
});

Deno.test("S3Lake.put() answered 503 SlowDown throws a RetriableError after the SDK's attempts", async () => {
  const server = new FakeS3("quotes");
  for (let i = 0; i < 2; i++) {
    server.failures.push({
      method: "PUT",
      status: 503,
      code: "SlowDown",
      message: "Please reduce your request rate.",
    });
  }
  const lake = lakeAt(server.endpoint, 2);
  try {
    await assert.rejects(() => lake.put("k.ndjson.gz", new Uint8Array([1])), {
      name: "RetriableError",
      message:
        `Cannot put object 'k.ndjson.gz' in ${lake.location} as SlowDown: Please reduce your request rate.`,
    });
    assert.equal(server.requests.length, 2);
    assert.equal(server.objects.size, 0);
  } finally {
    lake.close();
    await server.close();
  }
});

Deno.test("S3Lake.put() to a closed port throws a RetriableError", async () => {
  // The SDK's default three attempts, with its backoff.
  const lake = lakeAt(`http://127.0.0.1:${closedPort()}`, 3);
  try {
    await assert.rejects(
      () => lake.put("k.ndjson.gz", new Uint8Array([1])),
      (error: unknown) => {
        assert.ok(error instanceof RetriableError, String(error));
        assert.ok(
          error.message.startsWith(
            `Cannot put object 'k.ndjson.gz' in ${lake.location} as `,
          ),
          error.message,
        );
        assert.ok(!error.message.includes(SECRET_ACCESS_KEY));
        assert.ok(!error.message.includes("\n"));
        assert.match(error.message, /ECONNREFUSED/);
        return true;
      },
    );
  } finally {
    lake.close();
  }
});

Deno.test("S3Lake.ensureBucket() creates a missing bucket and accepts an existing one", async () => {
  const server = new FakeS3();
  const lake = lakeAt(server.endpoint);
  const lines: string[] = [];
  const restore = setLogSink({ write: (line) => lines.push(line) });
  try {
    await lake.ensureBucket();
    assert.equal(lines.length, 1);
    assert.match(lines[0], /msg="created bucket"/);
    assert.deepEqual([...server.buckets], ["quotes"]);
    await lake.ensureBucket();
    assert.deepEqual(
      server.requests.map(({ method, url }) => `${method} ${url.pathname}`),
      ["HEAD /quotes/", "PUT /quotes/", "HEAD /quotes/"],
    );
  } finally {
    restore();
    lake.close();
    await server.close();
  }
});

Deno.test("S3Lake rejects an empty or over-long key", async () => {
  const lake = lakeAt("http://127.0.0.1:9");
  try {
    await assert.rejects(() => lake.put("", new Uint8Array()), {
      name: "RangeError",
      message:
        `Cannot use the object key as 'key' must be 1 to 1024 bytes of UTF-8: current value is ""`,
    });
    await assert.rejects(() => lake.get("é".repeat(513)), {
      name: "RangeError",
    });
  } finally {
    lake.close();
  }
});
