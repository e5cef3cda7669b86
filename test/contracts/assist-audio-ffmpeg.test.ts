/**
 * The ffmpeg audio devices: the real ALSA command line on ALSA's `null` PCM (alsa-lib's built-in
 * silent device: there is no sound card here; it has no clock, so its rate is not checked), the
 * same capture with a lavfi 440 Hz tone in place of the device (content and real-time rate checked),
 * and a missing ALSA device (refused with a code).
 */
import { FfmpegAudioCapture, FfmpegAudioPlayback } from '../../agent/assist/audio/ffmpeg-audio.js';
import { audioCaptureContract, audioPlaybackContract } from './assist-audio.contract.js';

const RATE = 48000;

audioCaptureContract(
  'ffmpeg ALSA microphone (null PCM)',
  () => {
    const capture = new FfmpegAudioCapture({ device: 'null', sampleRate: RATE });
    return { capture, unclocked: true, pid: () => capture.pid, crash: () => process.kill(capture.pid!, 'SIGKILL') };
  },
  () => ({ capture: new FfmpegAudioCapture({ device: 'kiosk-no-such-pcm', sampleRate: RATE }) }),
);

audioCaptureContract('ffmpeg microphone on a lavfi tone', () => {
  const capture = new FfmpegAudioCapture({ device: 'lavfi', sampleRate: RATE, input: ['-re', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${RATE}`] });
  return { capture, toneHz: 440, pid: () => capture.pid, crash: () => process.kill(capture.pid!, 'SIGKILL') };
});

audioPlaybackContract(
  'ffmpeg ALSA speaker (null PCM)',
  () => {
    const playback = new FfmpegAudioPlayback({ device: 'null', sampleRate: RATE });
    return { playback, pid: () => playback.pid };
  },
  () => ({ playback: new FfmpegAudioPlayback({ device: 'kiosk-no-such-pcm', sampleRate: RATE }) }),
);
