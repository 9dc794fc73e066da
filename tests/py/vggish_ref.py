#!/usr/bin/python3
"""vggish_ref.py - an independent NumPy implementation of the published VGGish
front end (mel_features.py / vggish_input.py of tensorflow/models research/
audioset), written from the published algorithm, to check aedcurate's log-mel.

  vggish_ref.py compare WAV NPY [--preset yamnet|vggish] [--tol 1e-3]
      log-mel of the WAV's samples vs the .npy aedcurate wrote; prints the max
      absolute difference and exits 1 when it exceeds the tolerance.
  vggish_ref.py compare-list LIST [--preset yamnet|vggish] [--tol 1e-3]
      the same for every "WAV NPY [N_REAL]" line of LIST; prints the worst pair.
      With N_REAL (the clip's real samples; the WAV is the zero-padded stored
      clip), the reference covers only the first real_span() samples: the real
      ones padded as YAMNet's features.py pads a waveform, within the WAV.
  vggish_ref.py bench WAV N
      computes the log-mel N times; prints seconds per clip.
  vggish_ref.py pipeline LIST
      the peer of `aedcurate decode` + `features`: for each file named in LIST,
      `ffmpeg -ac 1 -ar 16000 -t 10` to f32, zero-pad to 10 s, log-mel of the
      real samples padded as YAMNet pads them (real_span()), as the features
      stage does; prints the number of clips and the seconds taken.
  vggish_ref.py corr A B [--skip N] [--b-from N]
      Pearson correlation of two waveforms (.wav 16-bit or raw f32le), B read
      from its sample N on; exits 1 below 0.999.

Only NumPy and the standard library: it shares no code with aedcurate.
"""
import subprocess
import sys
import time
import wave

import numpy as np

SAMPLE_RATE = 16000
STFT_WINDOW_SECONDS = 0.025
STFT_HOP_SECONDS = 0.010
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
MEL_BREAK_FREQUENCY_HERTZ = 700.0
MEL_HIGH_FREQUENCY_Q = 1127.0
LOG_OFFSET = {"vggish": 0.01, "yamnet": 0.001}


def frame(data, window_length, hop_length):
    """Overlapping frames without padding, as mel_features.frame."""
    num_samples = data.shape[0]
    num_frames = 1 + int(np.floor((num_samples - window_length) / hop_length))
    shape = (num_frames, window_length) + data.shape[1:]
    strides = (data.strides[0] * hop_length,) + data.strides
    return np.lib.stride_tricks.as_strided(data, shape=shape, strides=strides)


def periodic_hann(window_length):
    return 0.5 - (0.5 * np.cos(2 * np.pi / window_length * np.arange(window_length)))


def stft_magnitude(signal, fft_length, hop_length, window_length):
    frames = frame(signal, window_length, hop_length)
    window = periodic_hann(window_length)
    windowed_frames = frames * window
    return np.abs(np.fft.rfft(windowed_frames, int(fft_length)))


def hertz_to_mel(frequencies_hertz):
    return MEL_HIGH_FREQUENCY_Q * np.log(1.0 + (frequencies_hertz / MEL_BREAK_FREQUENCY_HERTZ))


def spectrogram_to_mel_matrix(num_mel_bins, num_spectrogram_bins, audio_sample_rate,
                              lower_edge_hertz, upper_edge_hertz):
    nyquist_hertz = audio_sample_rate / 2.0
    spectrogram_bins_hertz = np.linspace(0.0, nyquist_hertz, num_spectrogram_bins)
    spectrogram_bins_mel = hertz_to_mel(spectrogram_bins_hertz)
    band_edges_mel = np.linspace(hertz_to_mel(lower_edge_hertz), hertz_to_mel(upper_edge_hertz),
                                 num_mel_bins + 2)
    mel_weights_matrix = np.empty((num_spectrogram_bins, num_mel_bins))
    for i in range(num_mel_bins):
        lower_edge_mel, center_mel, upper_edge_mel = band_edges_mel[i:i + 3]
        lower_slope = (spectrogram_bins_mel - lower_edge_mel) / (center_mel - lower_edge_mel)
        upper_slope = (upper_edge_mel - spectrogram_bins_mel) / (upper_edge_mel - center_mel)
        mel_weights_matrix[:, i] = np.maximum(0.0, np.minimum(lower_slope, upper_slope))
    mel_weights_matrix[0, :] = 0.0  # the DC bin
    return mel_weights_matrix


def log_mel_spectrogram(data, preset):
    window_length_samples = int(round(SAMPLE_RATE * STFT_WINDOW_SECONDS))
    hop_length_samples = int(round(SAMPLE_RATE * STFT_HOP_SECONDS))
    fft_length = 2 ** int(np.ceil(np.log(window_length_samples) / np.log(2.0)))
    spectrogram = stft_magnitude(data, fft_length=fft_length, hop_length=hop_length_samples,
                                 window_length=window_length_samples)
    mel_spectrogram = np.dot(spectrogram, spectrogram_to_mel_matrix(
        NUM_MEL_BINS, spectrogram.shape[1], SAMPLE_RATE, MEL_MIN_HZ, MEL_MAX_HZ))
    return np.log(mel_spectrogram + LOG_OFFSET[preset])


def real_span(n_real, n_stored, preset):
    """Samples of a padded clip that its log-mel covers: YAMNet's
    features.pad_waveform (at least patch + window - hop = 0.975 s, then whole
    0.48 s patch hops); vggish_input has no padding, so only the 0.975 s
    minimum. Never past the stored samples."""
    min_n = int(round((0.96 + STFT_WINDOW_SECONDS - STFT_HOP_SECONDS) * SAMPLE_RATE))
    hop = int(round(0.48 * SAMPLE_RATE))
    n = max(n_real, min_n)
    if preset == "yamnet":
        n = min_n + -(-(n - min_n) // hop) * hop
    return min(n, n_stored)


def read_wave(path):
    """16-bit PCM WAV -> float64 in [-1, 1), as vggish_input.wavfile_to_examples."""
    if path.endswith(".f32") or path.endswith(".raw"):
        return np.fromfile(path, dtype="<f4").astype(np.float64)
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise SystemExit("%s: not 16-bit PCM" % path)
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    samples = data.astype(np.float64) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE:
        raise SystemExit("%s: %d Hz, expected %d" % (path, rate, SAMPLE_RATE))
    return samples


def option(args, name, default):
    if name in args:
        i = args.index(name)
        value = args[i + 1]
        del args[i:i + 2]
        return value
    return default


def main(argv):
    args = list(argv[1:])
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = args.pop(0)
    if cmd == "compare":
        preset = option(args, "--preset", "yamnet")
        tol = float(option(args, "--tol", "1e-3"))
        wav, npy = args
        ref = log_mel_spectrogram(read_wave(wav), preset)
        ours = np.load(npy)
        if ours.dtype != np.float32 or ours.shape != ref.shape:
            print("shape/dtype mismatch: ours %s %s, reference %s" % (ours.dtype, ours.shape, ref.shape))
            return 1
        diff = float(np.max(np.abs(ours.astype(np.float64) - ref)))
        print("frames %d bands %d max_abs_diff %.3g (tolerance %g) ref_range [%.2f, %.2f]"
              % (ref.shape[0], ref.shape[1], diff, tol, ref.min(), ref.max()))
        return 0 if diff <= tol else 1
    if cmd == "compare-list":
        preset = option(args, "--preset", "yamnet")
        tol = float(option(args, "--tol", "1e-3"))
        (listfile,) = args
        worst, worst_pair, n = -1.0, None, 0
        for line in open(listfile):
            if not line.strip():
                continue
            cols = line.split()
            wav, npy = cols[:2]
            x = read_wave(wav)
            if len(cols) > 2:
                x = x[:real_span(int(cols[2]), len(x), preset)]
            ref = log_mel_spectrogram(x, preset)
            ours = np.load(npy)
            if ours.dtype != np.float32 or ours.shape != ref.shape:
                print("%s: shape/dtype mismatch: ours %s %s, reference %s" % (npy, ours.dtype, ours.shape, ref.shape))
                return 1
            diff = float(np.max(np.abs(ours.astype(np.float64) - ref)))
            n += 1
            if diff > worst:
                worst, worst_pair = diff, npy
        print("%d clips, preset %s: max_abs_diff %.3g (worst %s, tolerance %g)"
              % (n, preset, worst, worst_pair, tol))
        return 0 if n > 0 and worst <= tol else 1
    if cmd == "bench":
        wav, n = args
        x = read_wave(wav)
        log_mel_spectrogram(x, "yamnet")
        t0 = time.perf_counter()
        for _ in range(int(n)):
            log_mel_spectrogram(x, "yamnet")
        print("%.6f" % ((time.perf_counter() - t0) / int(n)))
        return 0
    if cmd == "pipeline":
        (listfile,) = args
        paths = [l.strip() for l in open(listfile) if l.strip()]
        t0 = time.perf_counter()
        for path in paths:
            raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-ac", "1", "-ar", "16000",
                                  "-t", "10", "-f", "f32le", "-"], check=True, capture_output=True).stdout
            x = np.zeros(10 * SAMPLE_RATE)
            y = np.frombuffer(raw, dtype="<f4")[:len(x)]
            x[:len(y)] = y
            log_mel_spectrogram(x[:real_span(len(y), len(x), "yamnet")], "yamnet")
        print("%d %.3f" % (len(paths), time.perf_counter() - t0))
        return 0
    if cmd == "corr":
        skip = int(option(args, "--skip", "0"))
        b_from = int(option(args, "--b-from", "0"))
        a, b = (read_wave(p) for p in args)
        b = b[b_from:]
        m = min(len(a), len(b))
        a, b = a[skip:m], b[skip:m]
        if m - skip < 100 or np.std(a) == 0 or np.std(b) == 0:
            print("too short or silent: %d and %d samples" % (len(a), len(b)))
            return 1
        r = float(np.corrcoef(a, b)[0, 1])
        print("samples %d correlation %.6f" % (m - skip, r))
        return 0 if r >= 0.999 else 1
    print("unknown command %r" % cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
