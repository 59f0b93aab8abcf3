"""The lab through S1, side by side: the feed page, the live-update poll and a static file.

    .venv/bin/python tests/lab/lab.py run .venv/bin/python tests/bench/lab_bench.py [--duration 10]

Run inside the lab namespace on a converged lab (`make up`; `make test` runs it after the
topology scenario). wrk from this machine to S1's private address over HTTPS; every VM is a QEMU
TCG guest on the same two cores, so the figures are this lab's, not a server's. Prints, never
asserts. wrk does not verify certificates: the request before each run does, against the lab's CA.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import urllib.request

from extagram_lab import inventory, lab_ca
from extagram_testing.wrk import run_wrk


def get(url: str):
    """An answer from S1, its chain verified against the lab's CA."""
    return urllib.request.urlopen(url, timeout=10, context=lab_ca.ssl_context())


def newest_post_id(base_url: str) -> int:
    with get(f"{base_url}/api/posts") as response:
        posts = json.load(response)["posts"]
    return posts[0]["id"] if posts else 0


def cache_status(url: str) -> str:
    with get(url) as response:
        return response.headers.get("X-Cache-Status", "-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"https://{inventory.balancer().address}")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    targets = {
        "feed page `/`": "/",
        "live poll `/api/posts?after=<newest>`": f"/api/posts?after={newest_post_id(args.url)}",
        "static file `/static/style.css` (S6)": "/static/style.css",
    }
    results = {}
    for label, path in targets.items():
        url = args.url + path
        cache_status(url)  # fill the copy, as the first visitor would (and verify the chain)
        results[label] = (run_wrk(url, args.duration, args.connections, threads=2), cache_status(url))
    static_rps = results["static file `/static/style.css` (S6)"][0].rps
    print(f"{datetime.date.today()}, wrk -t2 -c{args.connections} -d{args.duration}s through {args.url}")
    print(f"host: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; VMs under QEMU TCG")
    print("| request | req/s | p50 ms | p99 ms | errors | X-Cache-Status | vs static |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for label, (result, status) in results.items():
        print(
            f"| {label} | {result.rps:,.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} | "
            f"{result.errors} | {status} | {result.rps / static_rps:.0%} |"
        )


if __name__ == "__main__":
    main()
