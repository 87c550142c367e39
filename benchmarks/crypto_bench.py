"""How fast is our Tink-format streaming encryption, whole-file and ranged, next to Tink's own Python binding?

One process, all in memory, nothing on disk: a --size-mb plaintext (one random 1 MiB block repeated)
is encrypted with ``EncryptingWriter`` (AES256_GCM_HKDF_1MB, a fresh key) into a BytesIO, then:

    .venv/bin/python benchmarks/crypto_bench.py                 # 1 GB, 3 rounds, about a minute
    .venv/bin/python benchmarks/crypto_bench.py --size-mb 200 --repeat 1   # a quick look

- ``encrypt``: EncryptingWriter, 1 MiB writes, into a BytesIO reused from round to round (warm memory);
  ``encrypt, fresh BytesIO``: into a new BytesIO each time, whose growth takes fresh pages from the
  kernel (page faults cost more than the cipher here); ``encrypt, null sink``: into a sink that drops
  the bytes, the cipher alone;
- ``decrypt``: DecryptingReader.readinto a 1 MiB buffer until the end, as a download streams;
- ``range 1 MiB``: ``decrypt_range`` of 1 MiB at --ranges random offsets, each timed alone (ms, median);
- ``tink encrypt`` / ``tink decrypt``: Tink's Python streaming AEAD on the same key and data, the baseline.

Each round takes every case once, so a busy spell weighs on all of them; the median round is reported,
``vs tink`` is Tink's median time divided by ours (above 1: we are faster). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
from pathlib import Path

from bench_support import script_main

from export_pipelines.security.keyset import Keyset
from export_pipelines.security.streaming_aead import DecryptingReader, EncryptingWriter, decrypt_range

MIB = 1 << 20
AD = b"benchmarks/crypto_bench"
TARGETS = {"encrypt": ">= 800 MB/s", "decrypt": ">= 500 MB/s", "range 1 MiB": "< 50 ms"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="plaintext size in MiB")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--ranges", type=int, default=20, help="random 1 MiB ranges per round")
    parser.add_argument("--no-tink", action="store_true", help="skip Tink's baseline")
    parser.add_argument("--json-out", type=Path, help="also write every figure as JSON")
    return parser.parse_args(argv)


class NullSink:
    def write(self, data) -> int:
        return len(data)


class ReusedBytesIO(io.BytesIO):
    """A BytesIO rewound for each round; Tink closes its destination, so closing does nothing."""

    def close(self) -> None:
        pass

    def rewound(self) -> ReusedBytesIO:
        self.seek(0)
        return self


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def encrypt(key, plaintext: memoryview, sink) -> float:
    started = time.perf_counter()
    with EncryptingWriter(sink, key, AD) as writer:
        for at in range(0, len(plaintext), MIB):
            writer.write(plaintext[at : at + MIB])
    return time.perf_counter() - started


def decrypt(key, ciphertext: bytes) -> float:
    started, buffer = time.perf_counter(), bytearray(MIB)
    reader = DecryptingReader(io.BytesIO(ciphertext), [key], AD)
    while reader.readinto(buffer):
        pass
    return time.perf_counter() - started


def ranges(key, ciphertext: bytes, count: int, rng: random.Random) -> list[float]:
    size = key.plaintext_size(len(ciphertext))
    timings = []
    for _ in range(count):
        start = rng.randrange(0, size - MIB)
        began = time.perf_counter()
        chunks = decrypt_range(lambda o, n: ciphertext[o : o + n], len(ciphertext), key, AD, start, start + MIB)
        got = sum(map(len, chunks))
        timings.append(time.perf_counter() - began)
        assert got == MIB
    return timings


def tink_primitive(keyset: Keyset):
    from tink import json_proto_keyset_format, secret_key_access, streaming_aead

    streaming_aead.register()
    handle = json_proto_keyset_format.parse(keyset.to_json(), secret_key_access.TOKEN)
    return handle.primitive(streaming_aead.StreamingAead)


def tink_encrypt(primitive, plaintext: memoryview, sink: ReusedBytesIO) -> float:
    started = time.perf_counter()
    with primitive.new_encrypting_stream(sink, AD) as stream:
        for at in range(0, len(plaintext), MIB):
            stream.write(plaintext[at : at + MIB])
    return time.perf_counter() - started


def tink_decrypt(primitive, ciphertext: bytes) -> float:
    started = time.perf_counter()
    with primitive.new_decrypting_stream(io.BytesIO(ciphertext), AD) as stream:
        while stream.read(MIB):
            pass
    return time.perf_counter() - started


def main(args: argparse.Namespace) -> dict:
    keyset = Keyset.generate()
    key, size = keyset.primary, args.size_mb * MIB
    plaintext = memoryview(os.urandom(MIB) * args.size_mb)
    sink = io.BytesIO()
    encrypt(key, plaintext, sink)
    ciphertext = sink.getvalue()
    del sink
    log(f"{size / 1e6:.0f} MB plaintext, {len(ciphertext) / 1e6:.0f} MB ciphertext, segments of {key.segment_size:,}")
    primitive = None if args.no_tink else tink_primitive(keyset)
    ours, theirs = ReusedBytesIO(), ReusedBytesIO()
    encrypt(key, plaintext, ours)  # warm: the sink's pages are mapped once, not on every round
    if primitive is not None:
        tink_encrypt(primitive, plaintext, theirs)
    rng = random.Random(42)
    runs: dict[str, list[float]] = {}
    for round_ in range(args.repeat):
        runs.setdefault("encrypt", []).append(encrypt(key, plaintext, ours.rewound()))
        sink = io.BytesIO()
        runs.setdefault("encrypt, fresh BytesIO", []).append(encrypt(key, plaintext, sink))
        del sink
        runs.setdefault("encrypt, null sink", []).append(encrypt(key, plaintext, NullSink()))
        runs.setdefault("decrypt", []).append(decrypt(key, ciphertext))
        runs.setdefault("range 1 MiB", []).append(statistics.median(ranges(key, ciphertext, args.ranges, rng)))
        if primitive is not None:
            runs.setdefault("tink encrypt", []).append(tink_encrypt(primitive, plaintext, theirs.rewound()))
            runs.setdefault("tink decrypt", []).append(tink_decrypt(primitive, ciphertext))
        log(f"round {round_ + 1}: " + ", ".join(f"{case} {times[-1]:.3f} s" for case, times in runs.items()))
    return {"bytes": size, "ranges": args.ranges, "repeat": args.repeat, "python": sys.version.split()[0], "runs": runs}


def report(results: dict) -> None:
    runs, size = results["runs"], results["bytes"]
    median = {case: statistics.median(times) for case, times in runs.items()}
    baseline = {"encrypt": "tink encrypt", "decrypt": "tink decrypt"}
    print(f"\nAES256_GCM_HKDF_1MB, {size / 1e6:,.0f} MB in memory, median of {results['repeat']} rounds, "
          f"Python {results['python']}\n")  # fmt: skip
    print(f"{'case':<34}{'median':>12}{'min-max':>20}{'MB/s':>10}{'vs tink':>9}   target")
    for case, times in runs.items():
        if case == "range 1 MiB":
            figures = f"{median[case] * 1e3:>9.1f} ms{min(times) * 1e3:>9.1f}-{max(times) * 1e3:<7.1f}ms{'-':>10}"
            ratio = "-"
            case_label = f"{case} (median of {results['ranges']})"
        else:
            rate = size / median[case] / 1e6
            figures = f"{median[case]:>10.3f} s{min(times):>10.3f}-{max(times):<7.3f} s{rate:>10,.0f}"
            other = baseline.get(case)
            ratio = f"{median[other] / median[case]:.2f}x" if other in median else "-"
            case_label = case
        print(f"{case_label:<34}{figures}{ratio:>9}   {TARGETS.get(case, '')}")
    print()


if __name__ == "__main__":
    script_main({}, parse_args, main, report)  # no child steps: everything runs in this process
