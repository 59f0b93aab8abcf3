"""Peak memory of one photo upload, for the worst accepted image of every format.

    python tests/bench/upload_memory_bench.py [--cases jpeg-progressive-444,webp-lossy]

Each image is written to a file first, then processed by extagram.photos.process_photo (what
POST /upload runs on the photo) in a fresh Python process, so one case's peak cannot hide in
another's. The child reads its peak from /proc/self/status (VmHWM, reset after the imports through
/proc/self/clear_refs), not from ru_maxrss: Linux carries the parent's peak over into
ru_maxrss across fork and exec, and the parent has just held the largest image. The growth
includes the upload's own bytes, which a worker also holds. The "-4-threads" cases send four
uploads of the same file at once into one process, as a Gunicorn gthread worker with 4 threads
may. A script, not a test: it prints figures and never asserts them.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from extagram import photos
from extagram.config import Config
from extagram.errors import Rejected
from extagram_testing.sample_images import png_bytes, smooth_photo

MIB = 1024 * 1024
ASPECT = (4, 3)  # a phone photo's shape
UPLOAD_CAP = Config.max_upload_bytes
Encoder = Callable[[Image.Image], bytes]


@dataclass(frozen=True)
class Case:
    name: str
    size: tuple[int, int]
    make: Callable[[tuple[int, int]], bytes]
    threads: int = 1  # uploads of it arriving at once in the one process (a worker has 4 threads)


def limit_size(max_pixels: int) -> tuple[int, int]:
    """The largest 4:3 picture within a pixel limit."""
    height = math.isqrt(max_pixels * ASPECT[1] // ASPECT[0])
    return max_pixels // height, height


def undraftable_size(max_pixels: int) -> tuple[int, int]:
    """The largest picture libjpeg must decode at full size: under twice MAX_SIDE wide, the
    shrink to MAX_SIDE is less than 2x, so no 1/2, 1/4 or 1/8 draft scale applies."""
    width = min(2 * photos.MAX_SIDE - 1, limit_size(max_pixels)[0])
    return width, min(max_pixels // width, width)


def over(size: tuple[int, int]) -> tuple[int, int]:
    return size[0], size[1] + 1


def encoder(fmt: str, **options) -> Encoder:
    def encode(image: Image.Image) -> bytes:
        output = io.BytesIO()
        image.save(output, fmt, **options)
        return output.getvalue()

    return encode


def picture(mode: str, size: tuple[int, int], noisy_rows: int = 0) -> Image.Image:
    if mode == "RGBA":  # a real alpha channel, which the encoders cannot drop
        image = smooth_photo(size, "RGB", noisy_rows)
        image.putalpha(image.getchannel("G"))
        return image
    if mode == "P":
        return smooth_photo(size, "RGB", noisy_rows).quantize(256, dither=Image.Dither.NONE)
    return smooth_photo(size, mode, noisy_rows)


def smooth(mode: str, encode: Encoder) -> Callable[[tuple[int, int]], bytes]:
    return lambda size: encode(picture(mode, size))


def filling_the_cap(mode: str, encode: Encoder) -> Callable[[tuple[int, int]], bytes]:
    """The largest file under the upload cap: as many rows of noise as fit (a binary search)."""

    def make(size: tuple[int, int]) -> bytes:
        fitting, too_many = encode(picture(mode, size)), size[1] + 1
        low = 0
        while too_many - low > max(size[1] // 100, 1):
            middle = (low + too_many) // 2
            data = encode(picture(mode, size, middle))
            if len(data) <= UPLOAD_CAP:
                low, fitting = middle, data
            else:
                too_many = middle
        return fitting

    return make


def png(color_type: int, bit_depth: int, interlaced: bool = False) -> Callable[[tuple[int, int]], bytes]:
    return lambda size: png_bytes(size, color_type, bit_depth, interlaced)


def all_cases() -> list[Case]:
    full = undraftable_size(photos.MAX_PIXELS)
    at_limit = limit_size(photos.MAX_PIXELS)
    webp = limit_size(photos.MAX_WEBP_PIXELS)
    jpeg_444 = encoder("JPEG", quality=95, subsampling=0)
    progressive_444 = encoder("JPEG", quality=95, subsampling=0, progressive=True)
    cmyk_progressive = encoder("JPEG", quality=95, progressive=True)
    webp_lossy = encoder("WEBP", quality=85)
    webp_lossless = encoder("WEBP", lossless=True, method=0)
    return [
        Case("jpeg-baseline-420", full, smooth("RGB", encoder("JPEG", quality=90))),
        Case("jpeg-baseline-444", full, smooth("RGB", jpeg_444)),
        Case("jpeg-baseline-444-draft-1/2", at_limit, smooth("RGB", jpeg_444)),
        Case("jpeg-progressive-444", full, smooth("RGB", progressive_444)),
        Case("jpeg-progressive-444-draft-1/2", at_limit, smooth("RGB", progressive_444)),
        Case("jpeg-progressive-444-at-cap", full, filling_the_cap("RGB", progressive_444)),
        Case("jpeg-cmyk", full, smooth("CMYK", encoder("JPEG", quality=95))),
        Case("jpeg-cmyk-progressive", full, smooth("CMYK", cmyk_progressive)),
        Case("jpeg-cmyk-progressive-at-cap", full, filling_the_cap("CMYK", cmyk_progressive)),
        Case(
            "jpeg-cmyk-progressive-at-cap-4-threads",
            full,
            filling_the_cap("CMYK", cmyk_progressive),
            threads=4,
        ),
        Case("png-rgb-8", full, png(color_type=2, bit_depth=8)),
        Case("png-grey-16", full, png(color_type=0, bit_depth=16)),
        Case("png-rgba-16", full, png(color_type=6, bit_depth=16)),
        Case("png-rgba-16-interlaced", full, png(color_type=6, bit_depth=16, interlaced=True)),
        Case("png-rgba-8-at-cap", full, filling_the_cap("RGBA", encoder("PNG", compress_level=1))),
        Case("gif-at-cap", full, filling_the_cap("P", encoder("GIF"))),
        Case("webp-lossy", webp, smooth("RGB", webp_lossy)),
        Case("webp-lossy-at-cap", webp, filling_the_cap("RGB", webp_lossy)),
        Case("webp-lossless-rgba-at-cap", webp, filling_the_cap("RGBA", webp_lossless)),
        Case("webp-lossless-rgba-at-cap-4-threads", webp, filling_the_cap("RGBA", webp_lossless), threads=4),
        Case("png-rgba-16-over-limit", over(at_limit), png(color_type=6, bit_depth=16)),
        Case("webp-lossy-over-limit", over(webp), smooth("RGB", webp_lossy)),
    ]


def measure_in_child(path: Path, threads: int, extra_env: dict[str, str]) -> dict:
    command = [sys.executable, __file__, "--child", str(path), "--threads", str(threads)]
    env = {**os.environ, **extra_env}
    completed = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(completed.stdout)


def child(path: Path, threads: int) -> None:
    _reset_peak_rss()
    baseline = _status_kib("VmRSS")
    raw = path.read_bytes()
    outcomes: list[str] = []

    def upload() -> None:
        try:
            photo = photos.process_photo(raw)
            outcomes.append(f"accepted ({photo.extension})")
        except Rejected as rejected:
            outcomes.append(f"refused {rejected.status}")

    workers = [threading.Thread(target=upload) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    growth = (_status_kib("VmHWM") - baseline) / 1024
    print(json.dumps({"growth_mib": growth, "seconds": elapsed, "outcome": ", ".join(sorted(set(outcomes)))}))


def _reset_peak_rss() -> None:
    # "5" resets VmHWM to the current RSS (Linux 4.0+): the imports' peak is left out.
    Path("/proc/self/clear_refs").write_text("5")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def print_table(rows: list[tuple[Case, int, dict]], extra_env: dict[str, str]) -> None:
    limit = f"{photos.MAX_PIXELS:,} ({dimensions(photos.MAX_PIXEL_SIZE)})"
    webp_limit = f"{photos.MAX_WEBP_PIXELS:,} ({dimensions(photos.MAX_WEBP_PIXEL_SIZE)})"
    print(f"Pixel limit: {limit}, WebP {webp_limit}; stored long side: {photos.MAX_SIDE}; ", end="")
    print(f"upload cap: {UPLOAD_CAP // MIB} MiB")
    for name, value in extra_env.items():
        print(f"Measured with {name}={value}")
    print()
    print("| case | size (WxH) | file bytes | peak RSS growth MiB | time s | outcome |")
    print("|---|---:|---:|---:|---:|---|")
    for case, file_bytes, result in rows:
        over_cap = " (over the upload cap)" if file_bytes > UPLOAD_CAP else ""
        print(
            f"| {case.name} | {dimensions(case.size)} | {file_bytes:,}{over_cap} "
            f"| {result['growth_mib']:.1f} | {result['seconds']:.2f} | {result['outcome']} |"
        )


def dimensions(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument(
        "--child-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment of the measured processes, e.g. MALLOC_MMAP_THRESHOLD_=1048576",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads)
        return
    cases = all_cases()
    if args.cases:
        wanted = args.cases.split(",")
        if unknown := set(wanted) - {case.name for case in cases}:
            parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
        cases = [case for case in cases if case.name in wanted]
    extra_env = dict(setting.split("=", 1) for setting in args.child_env)
    rows = []
    with tempfile.TemporaryDirectory(prefix="upload-memory-") as directory:
        for case in cases:
            path = Path(directory) / "photo"
            path.write_bytes(case.make(case.size))
            rows.append((case, path.stat().st_size, measure_in_child(path, case.threads, extra_env)))
    print_table(rows, extra_env)


if __name__ == "__main__":
    main()
