import assert from "node:assert/strict";
import { test } from "node:test";
import { imageSize } from "./image-size.ts";
import { png } from "./test-images.ts";

test("image size - PNG from its IHDR", () => {
  assert.deepEqual(imageSize(png(800, 600)), { width: 800, height: 600 });
});

test("image size - GIF from its logical screen", () => {
  const gif = Buffer.from("GIF89a\x40\x01\xf0\x00\x00\x00\x00", "latin1");
  assert.deepEqual(imageSize(gif), { width: 320, height: 240 });
});

test("image size - JPEG: past an APP1 segment and fill bytes to the baseline frame header", () => {
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0x00, 0x10]), Buffer.alloc(14, 0x45)]);
  const sof0 = Buffer.from([
    0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0xe0, 0x02, 0x80, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
  ]);
  const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8]), app1, Buffer.from([0xff]), sof0, Buffer.from([0xff, 0xd9])]);
  assert.deepEqual(imageSize(jpeg), { width: 640, height: 480 });
  // DHT (C4) is no frame header, and a scan before any frame leaves the size unknown.
  const dhtThenScan = Buffer.from([0xff, 0xd8, 0xff, 0xc4, 0x00, 0x04, 0, 0, 0xff, 0xda, 0x00, 0x02]);
  assert.equal(imageSize(dhtThenScan), undefined);
});

test("image size - WebP: lossy, lossless and extended", () => {
  const riff = (fourcc: string, body: Buffer) =>
    Buffer.concat([
      Buffer.from("RIFF"),
      Buffer.alloc(4),
      Buffer.from("WEBP"),
      Buffer.from(fourcc),
      Buffer.alloc(4),
      body,
    ]);
  const lossy = riff("VP8 ", Buffer.from([0, 0, 0, 0x9d, 0x01, 0x2a, 0x90, 0x01, 0x2c, 0x01, 0, 0]));
  assert.deepEqual(imageSize(lossy), { width: 400, height: 300 });
  // 14-bit fields of width-1 and height-1: 99 and 49.
  const bits = 99 | (49 << 14);
  const lossless = riff(
    "VP8L",
    Buffer.from([0x2f, bits & 0xff, (bits >> 8) & 0xff, (bits >> 16) & 0xff, (bits >> 24) & 0xff, 0, 0, 0, 0, 0]),
  );
  assert.deepEqual(imageSize(lossless), { width: 100, height: 50 });
  const extended = riff("VP8X", Buffer.from([0, 0, 0, 0, 0xff, 0x0f, 0, 0x37, 0x02, 0]));
  assert.deepEqual(imageSize(extended), { width: 4096, height: 568 });
});

test("image size - anything else, or a header cut short, has none", () => {
  assert.equal(imageSize(Buffer.from("hello, not an image")), undefined);
  assert.equal(imageSize(png(10, 10).subarray(0, 20)), undefined);
  assert.equal(imageSize(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00])), undefined);
  assert.equal(imageSize(new Uint8Array(0)), undefined);
});
