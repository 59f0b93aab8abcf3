"""How S1 shares the feed between its nodes: N uncached requests, each node's share beside the
share its inventory `weight` asks for (default 1).

    .venv/bin/python tests/lab/lab.py run .venv/bin/python -m extagram_lab.feed_shares [-n 300]

`/healthz` is answered by a feed node and never cached at S1, so every request is balanced.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator

from extagram_lab import inventory, lab_ca

PATH = "/healthz"


def expected_shares() -> dict[str, float]:
    weights = {host.name: float(host.variables.get("weight", 1)) for host in inventory.group("feed")}
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


def answering_nodes(base_url: str, timeout: float = 10) -> Iterator[str]:
    """The feed node that answered each request through S1, one request per item, all on one
    kept-alive connection (S1 balances each request; a TLS handshake per request made 300 of them
    take 16 s on the lab, 2026-12-07)."""
    connection = http.client.HTTPSConnection(
        urllib.parse.urlsplit(base_url).netloc, timeout=timeout, context=lab_ca.ssl_context()
    )
    try:
        while True:
            connection.request("GET", PATH)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise AssertionError(f"{PATH} through S1 answered {response.status}")
            yield response.getheader("X-Served-By")
    finally:
        connection.close()


def measured_shares(base_url: str, requests: int) -> dict[str, float]:
    """Each node's share of `requests` through S1."""
    with contextlib.closing(answering_nodes(base_url)) as answers:
        served = Counter(itertools.islice(answers, requests))
    return {name: count / requests for name, count in served.items()}


def seconds_until_every_node_serves(base_url: str, within: float) -> float | None:
    """Seconds until S1 has sent a request to every feed node (None: not within `within`); a node
    S1 marked failed comes back once its fail_timeout has passed."""
    expected = set(expected_shares())
    seen = set()
    started = time.monotonic()
    with contextlib.closing(answering_nodes(base_url)) as answers:
        for node in answers:
            seen.add(node)
            if seen >= expected:
                return time.monotonic() - started
            if time.monotonic() - started >= within:
                return None
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
