#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Test tones as 16-bit mono WAV files, and what frequency a WAV holds.

  tone.py write FILE HZ SECONDS [RATE]   a sine at HZ (amplitude 1/4 of full scale)
  tone.py measure [--block SECONDS] FILE HZ [OTHER_HZ...]
                                         one line: "seconds S voiced V
      fraction F ratio_db R hz:power..." where
        seconds   length of the file
        voiced    seconds of 20 ms frames with an RMS above 1% of full scale
        fraction  share of the file's energy at HZ (a clean tone: about 1)
        ratio_db  power at HZ over the strongest OTHER_HZ, in dB
        hz:power  the power (Goertzel, per sample) at every frequency asked
      --block: each power the mean over blocks of SECONDS (a tone whose
      phase jumps, as after a lost packet, counts whole)
"""
import math
import struct
import sys
import wave


def goertzel(samples, rate, hz):
    """|X(hz)|^2 / N over all the samples: for a sine of amplitude A that
    fills them, A^2 N / 4."""
    w = 2 * math.pi * hz / rate
    coeff = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / max(len(samples), 1)


def measure(rate, s, freqs, block=0):
    """The line "measure" prints, for samples s at rate: freqs[0] is the
    tone wanted, the others those that must stay quiet. With block, each
    frequency's power is the mean over blocks of that many samples: a tone
    whose phase jumps between blocks (a packet lost in RTP) still counts
    whole."""
    if block and len(s) > block:
        blocks = [s[i:i + block] for i in range(0, len(s) - block + 1, block)]
        power = {f: sum(goertzel(b, rate, f) for b in blocks) / len(blocks) * len(s) / block
                 for f in freqs}
    else:
        power = {f: goertzel(s, rate, f) for f in freqs}
    energy = sum(x * x for x in s) / max(len(s), 1)
    frame = rate // 50
    voiced = sum(1 for i in range(0, len(s) - frame + 1, frame)
                 if math.sqrt(sum(x * x for x in s[i:i + frame]) / frame) > 327.68)
    want = power[freqs[0]]
    strongest = max([power[f] for f in freqs[1:]] + [1e-9])
    return "seconds %.2f voiced %.2f fraction %.3f ratio_db %.1f %s" % (
        len(s) / rate, voiced * frame / rate,
        2 * want / (energy * len(s)) if energy else 0.0,
        10 * math.log10(max(want, 1e-9) / strongest),
        " ".join("%g:%.0f" % (f, power[f]) for f in freqs))


def read(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise SystemExit("%s: not 16-bit mono" % path)
        # A writer that is killed, or still writing, may leave a header
        # that counts more frames than the file holds: read what is there.
        data = w.readframes(w.getnframes())
        n = len(data) // 2
        return w.getframerate(), struct.unpack("<%dh" % n, data[:2 * n])


def main(argv):
    if len(argv) >= 4 and argv[0] == "write":
        path, hz, secs = argv[1], float(argv[2]), float(argv[3])
        rate = int(argv[4]) if len(argv) > 4 else 8000
        amp = 8192
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(b"".join(
                struct.pack("<h", int(amp * math.sin(2 * math.pi * hz * i / rate)))
                for i in range(int(rate * secs))))
        return 0
    block = 0
    if len(argv) >= 3 and argv[0] == "measure" and argv[1] == "--block":
        block = int(float(argv[2]) * 8000)
        argv = argv[:1] + argv[3:]
    if len(argv) >= 3 and argv[0] == "measure":
        rate, s = read(argv[1])
        print(measure(rate, s, [float(f) for f in argv[2:]], block * rate // 8000))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
