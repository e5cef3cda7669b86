/** The in-memory microphone (a tone) and speaker pass the same contract as the ffmpeg/ALSA ones. */
import { MemoryAudioPlayback, ToneAudioCapture } from '../../agent/assist/audio/fake-audio.js';
import { audioCaptureContract, audioPlaybackContract } from './assist-audio.contract.js';

audioCaptureContract(
  'fake tone microphone',
  () => {
    const capture = new ToneAudioCapture({ sampleRate: 48000, frequency: 440 });
    return { capture, toneHz: 440, crash: () => capture.crash() };
  },
  () => ({ capture: new ToneAudioCapture({ sampleRate: 48000, fail: 'no_device' }) }),
);

audioPlaybackContract(
  'fake speaker',
  () => {
    const playback = new MemoryAudioPlayback({ sampleRate: 16000 });
    return { playback, received: () => playback.received() };
  },
  () => ({ playback: new MemoryAudioPlayback({ sampleRate: 16000, fail: 'no_device' }) }),
);
