"""S1's cap on pages made at once per address, off and on, side by side under the same flood.

    .venv/bin/python tests/lab/lab.py run .venv/bin/python tests/bench/lab_flood_bench.py [--rounds 2]

Run on a converged lab (`make up`). The flood is the flood test's (extagram_lab.flood: S5 asks S1
for pages it has no copy of, 16 at a time, while this process loads the shared page and posts,
before and during). Each round floods four times: the cap off (1000 at once) and at the role's
value, with the feed nodes as they are and with each one sharing its vCPU with a busy loop (a
slow feed: a node just converged, or a host that is busy). The cap is set by editing S1's
configuration and a tested reload; the role's value is put back whatever happens (a `site.yml`
run would put it back too). Every VM is a QEMU TCG guest on two host cores: the figures are this
lab's. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import shlex
import statistics
import time

from extagram_failover.labctl import ssh, ssh_output
from extagram_lab import feed_shares, flood, inventory
from extagram_lab.inventory import role_default

CONF = "/etc/nginx/conf.d/extagram-balancer.conf"
CAP_OFF = 1000
ROLE_CAP = int(role_default("nginx_balancer", "nginx_balancer_uncached_pages_at_once"))
FEEDS = ("as is", "slow")
# S1's page bucket (burst 40 at 10 r/s) full again before the next flood.
REFILL_S = 6
# The busy loop's name in `ps`, so that it is found and stopped; `timeout` stops it anyway.
BUSY = "extagram-bench-busy"


def as_root(node: str, command: str) -> str:
    return ssh_output(node, f"sudo sh -c {shlex.quote(command)}")


def set_cap(s1: str, cap: int) -> None:
    pattern = r"s/limit_conn extagram_uncached_pages [0-9]+;/limit_conn extagram_uncached_pages " + f"{cap};/"
    as_root(s1, f"sed -i -E '{pattern}' {CONF} && nginx -t -q && systemctl reload nginx")
    time.sleep(REFILL_S)


@contextlib.contextmanager
def feed_nodes(condition: str):
    """The feed nodes as they are, or each with a busy loop beside the app, for the block."""
    nodes = [host.name for host in inventory.group("feed")] if condition == "slow" else []
    busy = f"exec -a {BUSY} timeout 300 sh -c 'while :; do :; done'"
    try:
        for node in nodes:
            as_root(node, f"nohup bash -c {shlex.quote(busy)} >/dev/null 2>&1 &")
        yield
    finally:
        for node in nodes:
            ssh(node, f"sudo pkill -f {BUSY}")


def flood_run(s1, flooder) -> dict:
    """One flood with the cap as S1 has it: the visitor's medians and what the flood got."""
    error_log_lines = int(as_root(s1.name, f"wc -l < {flood.ERROR_LOG}"))
    # Only curl's status codes: its parallel progress meter goes to stderr, which ssh() keeps.
    result = flood.run(
        lambda command: ssh(flooder, f"sudo sh -c {shlex.quote(command)} 2>/dev/null", 120)[1], s1.address
    )
    feed_shares.seconds_until_every_node_serves(f"https://{s1.address}", flood.FEED_BACK_MAX_S)
    codes = result["codes"]
    return {
        "before": flood.p50s(result["before"]),
        "during": flood.p50s(result["during"]),
        "sent": len(codes),
        "passed": len([code for code in codes if code != "429"]),
        "seconds": result["seconds"],
        "refused_at_once": int(as_root(s1.name, flood.count_refused_at_once(error_log_lines))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    s1, flooder = inventory.balancer(), inventory.group("media")[0].name
    runs = {(feed, cap): [] for feed in FEEDS for cap in (CAP_OFF, ROLE_CAP)}
    try:
        for _round in range(args.rounds):
            for (feed, cap), results in runs.items():
                set_cap(s1.name, cap)
                with feed_nodes(feed):
                    results.append(flood_run(s1, flooder))
    finally:
        set_cap(s1.name, ROLE_CAP)
    report(args, runs)


def report(args, runs: dict) -> None:
    print(f"# lab_flood_bench {datetime.date.today()}: {args.rounds} rounds, cap off = {CAP_OFF} at once")
    print(
        f"{'feed':>6} {'cap':>5} {'flood passed/sent':>18} {'s':>5} {'cap 429s':>9}"
        f" {'page p50 s':>13} {'post p50 s':>13}"
    )
    for (feed, cap), results in runs.items():
        for run in results:
            page = f"{run['before']['page /']:.3f}->{run['during']['page /']:.3f}"
            post = f"{run['before']['post']:.3f}->{run['during']['post']:.3f}"
            sent, refused = f"{run['passed']}/{run['sent']}", run["refused_at_once"]
            print(f"{feed:>6} {cap:>5} {sent:>18} {run['seconds']:>5.1f} {refused:>9} {page:>13} {post:>13}")
    print("the other visitor during the flood: median of during / before, and of the seconds added")
    for feed in FEEDS:
        for name in ("page /", "post"):
            ratio, added = ({}, {})
            for cap in (CAP_OFF, ROLE_CAP):
                results = runs[feed, cap]
                ratio[cap] = statistics.median(run["during"][name] / run["before"][name] for run in results)
                added[cap] = statistics.median(run["during"][name] - run["before"][name] for run in results)
            print(
                f"  feed {feed:<6} {name:<7} cap off {ratio[CAP_OFF]:5.2f}x {added[CAP_OFF]:+6.3f} s"
                f"   cap {ROLE_CAP} {ratio[ROLE_CAP]:5.2f}x {added[ROLE_CAP]:+6.3f} s"
                f"   off/on {ratio[CAP_OFF] / ratio[ROLE_CAP]:5.2f}"
            )


if __name__ == "__main__":
    main()
