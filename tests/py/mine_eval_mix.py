#!/usr/bin/python3
"""mine_eval_mix.py BACKGROUND EVENT OUT.wav AT_S SNR_DB

Build a 10 s test clip for mining: the loudest second of a real event
recording (EVENT) added into a real background recording (BACKGROUND) at
AT_S seconds, scaled so that over that second the event's RMS is SNR_DB
above the background's. Both are decoded with ffmpeg to 16 kHz mono; the
output is 16-bit PCM WAV. Prints where the event came from and its gain.
"""
import subprocess, sys, wave
import numpy as np
bg_path, ev_path, out, at_s, snr_db = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
def load(p):
    raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", p, "-f", "s16le", "-ac", "1", "-ar", "16000", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.int16).astype(np.float64) / 32768
bg = load(bg_path)[:160000]
ev = load(ev_path)
# the loudest second of the event clip
e2 = np.convolve(ev ** 2, np.ones(16000), mode="valid")
i = int(np.argmax(e2)); ev = ev[i:i + 16000]
a = int(at_s * 16000)
g = np.sqrt(np.mean(bg[a:a + 16000] ** 2) / np.mean(ev ** 2)) * 10 ** (snr_db / 20)
y = bg.copy(); y[a:a + 16000] += g * ev
y = np.clip(y, -1, 32767 / 32768)
with wave.open(out, "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
    w.writeframes((y * 32768).round().astype("<i2").tobytes())
print("event from %.2f s of %s, gain %.2f, at %.1f s" % (i / 16000, ev_path, g, at_s))
