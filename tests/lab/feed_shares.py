"""How S1 shares the feed between its nodes: N uncached requests, each node's share beside the
share its inventory `weight` asks for (default 1).

    .venv/bin/python tests/lab/lab.py run .venv/bin/python -m extagram_lab.feed_shares [-n 300]

`/healthz` is answered by a feed node and never cached at S1, so every request is balanced.
"""

from __future__ import annotations

import argparse
import http.client
import time
import urllib.parse
import urllib.request
from collections import Counter

from extagram_lab import inventory, lab_ca

PATH = "/healthz"


def expected_shares() -> dict[str, float]:
    weights = {host.name: float(host.variables.get("weight", 1)) for host in inventory.group("feed")}
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


def served_by(base_url: str, timeout: float = 10) -> str:
    """The feed node that answered one request through S1."""
    with urllib.request.urlopen(base_url + PATH, timeout=timeout, context=lab_ca.ssl_context()) as response:
        return response.headers["X-Served-By"]


def measured_shares(base_url: str, requests: int, timeout: float = 10) -> dict[str, float]:
    """Each node's share of `requests`, sent on one kept-alive connection (S1 balances each
    request; a TLS handshake per request made 300 of them take 16 s on the lab, 2026-12-07)."""
    served = Counter()
    connection = http.client.HTTPSConnection(
        urllib.parse.urlsplit(base_url).netloc, timeout=timeout, context=lab_ca.ssl_context()
    )
    try:
        for _ in range(requests):
            connection.request("GET", PATH)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise AssertionError(f"{PATH} through S1 answered {response.status}")
            served[response.getheader("X-Served-By")] += 1
    finally:
        connection.close()
    return {name: count / requests for name, count in served.items()}


def seconds_until_every_node_serves(base_url: str, within: float) -> float | None:
    """Seconds until S1 has sent a request to every feed node (None: not within `within`); a node
    S1 marked failed comes back once its fail_timeout has passed."""
    expected = set(expected_shares())
    seen = set()
    started = time.monotonic()
    while time.monotonic() - started < within:
        seen.add(served_by(base_url))
        if seen >= expected:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def table(expected: dict[str, float], measured: dict[str, float]) -> str:
    lines = ["| node | expected | measured |", "|---|---:|---:|"]
    for name in sorted(set(expected) | set(measured)):
        lines.append(f"| {name} | {expected.get(name, 0):.1%} | {measured.get(name, 0):.1%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=300)
    parser.add_argument("--url", default=f"https://{inventory.balancer().address}")
    args = parser.parse_args()
    print(f"{args.requests} requests to {args.url}{PATH}")
    print(table(expected_shares(), measured_shares(args.url, args.requests)))


if __name__ == "__main__":
    main()
