/**
 * BER-TLV as ICAO 9303 files and secure messaging use it: tags of one to three bytes, lengths in
 * the short form or the long form with up to three length bytes. Readers return undefined for what
 * they cannot read; callers raise their own coded error naming the file.
 */

/** A TLV object's tag and where its value lies (`end` may pass the buffer's end: only the header was read). */
export interface TlvHeader {
  tag: number;
  /** Offset of the value. */
  start: number;
  /** Offset just after the value. */
  end: number;
}

/** The header of the TLV object at `at`, or undefined when the header itself is cut or malformed. */
export function tlvHeader(buf: Uint8Array, at: number): TlvHeader | undefined {
  let i = at;
  let tag = buf[i++];
  if (tag === undefined) return undefined;
  if ((tag & 0x1f) === 0x1f) {
    do tag = (tag << 8) | buf[i];
    while (buf[i++] & 0x80 && i < buf.length);
  }
  let len = buf[i++];
  if (len === undefined) return undefined;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3 || i + n > buf.length) return undefined;
    len = 0;
    for (let k = 0; k < n; k++) len = (len << 8) | buf[i++];
  }
  return { tag, start: i, end: i + len };
}

/** The whole TLV object at `at`, or undefined when it does not fit in `buf`. */
export function readTlv(buf: Uint8Array, at: number): TlvHeader | undefined {
  const h = tlvHeader(buf, at);
  return h && h.end <= buf.length ? h : undefined;
}

/** `tag` (its bytes) with `value`, the length in the shortest form. */
export function encodeTlv(tag: number[], value: Uint8Array): Buffer {
  const n = value.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([...tag, ...len]), value]);
}
