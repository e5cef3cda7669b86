/**
 * The ffmpeg arguments that decode video and turn it into RGB the same way on every CPU.
 *
 * H.264/VP8 decoding is bit-exact by specification; the DCT codecs before them (MJPEG, which USB cameras
 * send, H.263 in .3gp, MPEG-1/2/4 part 2) leave the inverse DCT to the decoder, and ffmpeg picks an
 * x86 or arm64 SIMD one by default: `-idct simple` (the C reference, IEEE 1180) makes them agree. And
 * swscale's YUV-to-RGB fast paths are not bit-exact either: the
 * x86 (SSE/AVX) and arm64 (NEON) converters round differently, by up to 2/255 per channel on the dev
 * clips, which moved yaw by 0.7 degrees and eye openness by 0.09 between the two (docs/arm64-parity.md).
 * With `bitexact`, `accurate_rnd` and `full_chroma_int`, and the conversion written as planar GBR
 * (the packed RGB24 converter keeps a NEON path that ignores `bitexact` in Debian bookworm's ffmpeg 5.1),
 * both produce the same bytes; the planar-to-packed step after it is a lossless reordering.
 * Cost (`npm run bench:decode`, README "Speed and memory"): the conversion about doubles ffmpeg's CPU time per
 * MJPEG camera frame (0.6 ms more at 640x480 here); `-idct simple` costs nothing measurable on x86.
 */
export const BITEXACT_SWS_FLAGS = 'accurate_rnd+full_chroma_int+bitexact';

/** Decoder options, before `-i`: the reference inverse DCT (measured: H.263, MPEG-1 and MJPEG clips then decode to the same bytes on x86 and arm64). */
export const BITEXACT_DECODE_ARGS: readonly string[] = ['-idct', 'simple'];

/**
 * `-sws_flags ... -vf <before,>scale=WxH (area),format=gbrp`: the output is then written with
 * `-pix_fmt rgb24`. `before` are filters that run on the decoded frames first (e.g. `fps=10`).
 */
export function rgbFilterArgs(width: number, height: number, before: readonly string[] = []): string[] {
  const filters = [...before, `scale=${width}:${height}:flags=area+${BITEXACT_SWS_FLAGS}`, 'format=gbrp'];
  return ['-sws_flags', BITEXACT_SWS_FLAGS, '-vf', filters.join(',')];
}
