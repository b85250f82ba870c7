import assert from "node:assert/strict";
import { LineBuffer } from "../../lib/land/line_buffer.ts";

const text = (lines: LineBuffer) => new TextDecoder().decode(lines.bytes);

Deno.test("LineBuffer writes text, bytes and integers as the NDJSON of the same lines, growing as needed", () => {
  const lines = new LineBuffer(1);
  lines.textPart('{"a":"ünïcode €"');
  lines.bytesPart(new TextEncoder().encode(',"b":'));
  lines.integerPart(1796110344559);
  lines.textPart("}");
  lines.endLine();
  lines.integerPart(0);
  lines.endLine();
  assert.equal(text(lines), '{"a":"ünïcode €","b":1796110344559}\n0\n');
  assert.equal(lines.lines, 2);
});

Deno.test("LineBuffer writes every non-negative safe integer as String() does, and refuses others", () => {
  const values = [
    0,
    1,
    9,
    10,
    99,
    100,
    1e15,
    1e15 - 1,
    Number.MAX_SAFE_INTEGER,
  ];
  let seed = 11;
  for (let i = 0; i < 5000; i++) {
    seed = (seed * 48271) % 2147483647;
    values.push(Math.floor((seed / 2147483647) ** 3 * Number.MAX_SAFE_INTEGER));
  }
  const lines = new LineBuffer();
  for (const value of values) {
    lines.integerPart(value);
    lines.endLine();
  }
  assert.equal(text(lines), values.map((v) => `${v}\n`).join(""));
  for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, NaN, Infinity]) {
    assert.throws(() => lines.integerPart(bad), RangeError);
  }
});
