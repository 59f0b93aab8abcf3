"""One address flooding S1 with pages it has no copy of, while another visitor loads and posts.

The flood test (tests/topology/.../test_flood.py) and its benchmark (tests/bench/lab_flood_bench.py)
share it. The flood runs on a lab node (S5: it serves no page, so its cost there is not the
feed's); the visitor is this process.
"""

from __future__ import annotations

import http.client
import secrets
import shlex
import statistics
import threading
import time
from collections.abc import Callable

from extagram_lab import lab_ca
from extagram_lab.inventory import role_default

# The flood goes on, in rounds of ROUND_REQUESTS new addresses, while its marker file exists: the
# visitor removes it once its rounds are done. A set time of 15 s once ended before them
# (CI-equivalent run, 2026-12-07: one round of 300 took 15.9 s). `timeout` ends it whatever happens.
MARKER = "/tmp/extagram-flood.on"
MAX_SECONDS = 60
ROUND_REQUESTS = 300
CONNECTIONS = 16
VISITOR_ROUNDS = 8

# Each round writes a curl config of pages S1 cannot answer from its cache (older pages no one
# asked for, a new key each, and forged poster's proofs), then sends them all.
FLOOD_SCRIPT = r"""while [ -e {marker} ]; do
  awk -v s1={s1} -v n={round} -v t=$(( $(date +%s) + 120 )) 'BEGIN {{ srand();
    for (i = 0; i < n; i++) {{
      if (i % 2) printf "url = \"https://%s/?before=%.0f\"\n", s1, 1e15 + int(rand() * 8e15);
      else {{ h = ""; for (j = 0; j < 32; j++) h = h sprintf("%x", int(rand() * 16));
             printf "url = \"https://%s/?posted=1.%d.%s\"\n", s1, t, h }}
      print "output = \"/dev/null\"" }} }}' > /tmp/extagram-flood.conf
  curl -s -Z --parallel-max {connections} --max-time 10 -w '%{{http_code}}\n' -K /tmp/extagram-flood.conf
done"""

# The flood's pages that pass the limits can still keep a feed node past S1's read timeout, and S1
# then skips it for fail_timeout (2026-12-07: s2, and the shares test after the flood test measured
# while it was skipped). Once the flood stops, every node serves again: S1 tries the node after
# fail_timeout, and a try that still waits behind the flood's pages costs one read timeout and one
# more fail_timeout.
FEED_BACK_MAX_S = 2 * sum(
    int(role_default("nginx_balancer", name).rstrip("s"))
    for name in ("nginx_balancer_fail_timeout", "nginx_balancer_app_read_timeout")
)

# S1's error log names the limit behind each 429; this one is the cap on pages made at once.
ERROR_LOG = "/var/log/nginx/error.log"
AT_ONCE_REFUSAL = 'limiting connections by zone "extagram_uncached_pages"'


def count_refused_at_once(error_log_lines: int) -> str:
    """The shell command on S1 that counts those 429s after the log's first `error_log_lines`."""
    new_errors = f"tail -n +{error_log_lines + 1} {ERROR_LOG}"
    return f"{new_errors} | grep -c -F {shlex.quote(AT_ONCE_REFUSAL)} || true"


def visitor_round(s1_address: str) -> tuple[float, float]:
    """Seconds for the shared page, then for a post and the poster's own page (never a copy)."""
    connection = http.client.HTTPSConnection(s1_address, timeout=30, context=lab_ca.ssl_context())
    try:
        started = time.monotonic()
        connection.request("GET", "/")
        page = connection.getresponse()
        page.read()
        page_seconds = time.monotonic() - started
        started = time.monotonic()
        body = f"post=flood+test+{secrets.token_hex(4)}"
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}
        connection.request("POST", "/upload", body=body, headers=headers)
        posted = connection.getresponse()
        posted.read()
        connection.request("GET", posted.getheader("Location"))
        own = connection.getresponse()
        own.read()
        post_seconds = time.monotonic() - started
    finally:
        connection.close()
    assert (page.status, posted.status, own.status) == (200, 303, 200)
    return page_seconds, post_seconds


def visitor_times(s1_address: str) -> dict[str, list[float]]:
    rounds = [visitor_round(s1_address) for _ in range(VISITOR_ROUNDS)]
    return {"page /": [page for page, _post in rounds], "post": [post for _page, post in rounds]}


def run(on_flooder: Callable[[str], str], s1_address: str) -> dict:
    """The visitor's times before and during a flood from the node `on_flooder` runs commands on
    (returning their output), and the flood's status codes and length."""
    before = visitor_times(s1_address)
    script = FLOOD_SCRIPT.format(marker=MARKER, s1=s1_address, round=ROUND_REQUESTS, connections=CONNECTIONS)
    result = {"before": before}

    def flood():
        started = time.monotonic()
        result["codes"] = on_flooder(f"timeout {MAX_SECONDS} bash -c {shlex.quote(script)}").split()
        result["seconds"] = time.monotonic() - started

    on_flooder(f"touch {MARKER}")
    flooding = threading.Thread(target=flood)
    flooding.start()
    time.sleep(3)  # the flood under way
    try:
        result["during"] = visitor_times(s1_address)
        result["outlasted_the_visitor"] = flooding.is_alive()
    finally:
        on_flooder(f"rm -f {MARKER}")
        flooding.join()
    return result


def p50s(times: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(seconds) for name, seconds in times.items()}
