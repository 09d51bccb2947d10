/**
 * Width and height of a PNG, JPEG, GIF or WebP image from the first bytes of its file, so an
 * upload records them without decoding the image (and without a native image library).
 * Undefined when the bytes are none of these, or the header is cut short or malformed:
 * the attachment is then stored without dimensions, never refused for them.
 */
export interface ImageSize {
  width: number;
  height: number;
}

/**
 * How many leading bytes `imageSize` may need: a JPEG's frame header comes after its
 * metadata segments (EXIF, ICC profiles), which are at most 64 KiB each; a few of them fit.
 */
export const IMAGE_HEADER_BYTES = 256 * 1024;

export function imageSize(b: Uint8Array): ImageSize | undefined {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const size = (width: number, height: number) => (width > 0 && height > 0 ? { width, height } : undefined);
  // PNG: signature, then the IHDR chunk (width, height: big-endian 32-bit).
  if (b.length >= 24 && ascii(b, 1, 3) === "PNG" && b[0] === 0x89 && ascii(b, 12, 4) === "IHDR") {
    return size(v.getUint32(16), v.getUint32(20));
  }
  // GIF: "GIF87a" / "GIF89a", then the logical screen's width and height (little-endian 16-bit).
  if (b.length >= 10 && (ascii(b, 0, 6) === "GIF87a" || ascii(b, 0, 6) === "GIF89a")) {
    return size(v.getUint16(6, true), v.getUint16(8, true));
  }
  // WebP: a RIFF container whose first chunk is VP8 (lossy), VP8L (lossless) or VP8X (extended).
  if (b.length >= 30 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "WEBP") return webpSize(b, v, size);
  // JPEG: SOI, then segments until a start-of-frame marker, which holds height and width.
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) return jpegSize(b, v, size);
  return undefined;
}

type Sizer = (width: number, height: number) => ImageSize | undefined;

function webpSize(b: Uint8Array, v: DataView, size: Sizer): ImageSize | undefined {
  switch (ascii(b, 12, 4)) {
    case "VP8 ":
      // The key frame's start code, then 14-bit width and height.
      if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return undefined;
      return size(v.getUint16(26, true) & 0x3fff, v.getUint16(28, true) & 0x3fff);
    case "VP8L": {
      if (b[20] !== 0x2f) return undefined;
      const bits = v.getUint32(21, true);
      return size((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
    }
    case "VP8X":
      // Canvas width and height minus one, 24-bit little-endian.
      return size(1 + uint24(b, 24), 1 + uint24(b, 27));
    default:
      return undefined;
  }
}

/** Start-of-frame markers (baseline, progressive, …); not DHT (C4), JPG (C8) or DAC (CC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpegSize(b: Uint8Array, v: DataView, size: Sizer): ImageSize | undefined {
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1]!;
    // Fill bytes, and markers without a length (RSTn, TEM).
    if (marker === 0xff) {
      i++;
      continue;
    }
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    const length = v.getUint16(i + 2);
    if (length < 2) return undefined;
    if (isStartOfFrame(marker)) {
      if (i + 9 > b.length) return undefined;
      return size(v.getUint16(i + 7), v.getUint16(i + 5));
    }
    // Start of scan or end of image before any frame: not an image we can size.
    if (marker === 0xda || marker === 0xd9) return undefined;
    i += 2 + length;
  }
  return undefined;
}

function ascii(b: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...b.subarray(at, at + length));
}

function uint24(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
}
