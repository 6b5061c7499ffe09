"""What decoding hostile-but-valid uploads costs the server: peak RSS above idle for N decodes at once.

    python benchmarks/decode_memory.py [--at-once 1 6 20]

Writes three small files that decode large (a 4096x4096 16-bit PNG, 33 KB; a 4096x4096 float TIFF, 94 KB; a 4096x4096
JPEG, 20 MB) and, for each and each count, runs ``gan_core.inversion.prepare.read_picture`` on that many threads at
once in a fresh process, reporting its peak resident memory (sampled every millisecond) above what it held before. Writes
benchmarks/results/decode_memory.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import ROOT, header, write_result
from PIL import Image

# The process's resident memory sampled every millisecond while the decodes run (ru_maxrss would keep the peak of
# importing torch, which is higher than an idle server's RSS).
MEASURE = """
import os, sys, threading, time
sys.path.insert(0, {root!r})
from gan_core.inversion.prepare import read_picture
page = os.sysconf("SC_PAGE_SIZE") / 2**20
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page
before, peak, done = rss(), [0.0], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss()); time.sleep(0.001)
sampler = threading.Thread(target=sample); sampler.start()
threads = [threading.Thread(target=read_picture, args=({path!r},)) for _ in range({count})]
[t.start() for t in threads]; [t.join() for t in threads]
done.set(); sampler.join()
print(max(peak[0], rss()) - before)
"""


def files(folder: Path) -> dict[str, Path]:
    side = 4096
    out = {"16-bit PNG": folder / "deep.png", "float TIFF": folder / "float.tif", "JPEG": folder / "big.jpg"}
    Image.fromarray(np.zeros((side, side), np.uint16)).save(out["16-bit PNG"])
    Image.fromarray(np.zeros((side, side), np.float32)).save(out["float TIFF"], compression="tiff_adobe_deflate")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)).save(out["JPEG"], quality=95)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--at-once", type=int, nargs="+", default=[1, 6, 20])
    parser.add_argument("--out", help="result JSON (default benchmarks/results/decode_memory.json)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, path in files(Path(folder)).items():
            for count in args.at_once:
                code = MEASURE.format(root=str(ROOT), path=str(path), count=count)
                peak = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
                rows.append({"file": name, "bytes": path.stat().st_size, "at_once": count, "peak_mb": round(peak)})
                print(f"{name:11s} ({path.stat().st_size / 1024:,.0f} KB) x {count:2d} at once: +{peak:.0f} MB peak")
    print(f"wrote {write_result(header('decode_memory', 'decode_memory.py', argv) | {'rows': rows}, args.out, 'decode_memory.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
