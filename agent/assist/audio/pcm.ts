/**
 * Small PCM conversions for the operator's audio: WebRTC hands the kiosk decoded audio at the
 * decoder's rate and channel count (16 kHz mono from wrtc, 48 kHz from Chromium's Opus), the
 * speaker plays mono at its configured rate.
 */

/** 16-bit little-endian bytes as samples (a copy when the bytes are not 2-byte aligned). */
export function int16Of(bytes: Uint8Array): Int16Array {
  if (bytes.byteOffset % 2 === 0) return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
  return new Int16Array(bytes.slice().buffer, 0, bytes.length >> 1);
}

/** Interleaved samples of `channels` channels averaged to mono. */
export function downmix(samples: Int16Array, channels: number): Int16Array {
  if (channels <= 1) return samples;
  const n = Math.floor(samples.length / channels);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += samples[i * channels + c];
    out[i] = Math.round(sum / channels);
  }
  return out;
}

/**
 * Linear resampling of one block (good enough for speech; each block is resampled on its own, the
 * last input sample is held at the block's end).
 */
export function resample(samples: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate || samples.length === 0) return samples;
  const n = Math.round((samples.length * toRate) / fromRate);
  const out = new Int16Array(n);
  const step = fromRate / toRate;
  const last = samples.length - 1;
  for (let i = 0; i < n; i++) {
    const x = i * step;
    const j = Math.floor(x);
    const f = x - j;
    const a = samples[Math.min(j, last)];
    const b = samples[Math.min(j + 1, last)];
    out[i] = Math.round(a + (b - a) * f);
  }
  return out;
}

/** Decoded WebRTC audio (any rate, interleaved channels) as mono at `rate`. */
export function toMonoAt(data: { samples: Int16Array; sampleRate: number; channelCount?: number }, rate: number): Int16Array {
  return resample(downmix(data.samples, data.channelCount ?? 1), data.sampleRate, rate);
}
