"""One address cannot flood the feed (issue 22), on the lab.

Before, one client with 16 connections on `/?posted=999999` (a page S1 never kept) got 17.7 req/s
at p50 716 ms with 12 timeouts: it saturated both feed nodes. Now that spelling is refused, a
poster's page needs a proof the app signed, and every page S1 cannot answer from its cache counts
against the address's limits: its rate, and how many are being made for it at once (2), so a slow
feed makes the flood wait for its own pages rather than everyone else. S5 floods here (it serves
no page, so the flood's cost on it is not a cost of the feed), while the controller is the other
visitor: its page loads and posts, timed before and during the flood, are printed side by side.
"""

import http.client
import secrets
import shlex
import statistics
import threading
import time

import pytest

from extagram_lab import feed_shares, lab_ca
from extagram_lab.inventory import role_default
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("balancer")
# Floods S1 from S5: alone, after the parallel tests (pyproject.toml's `serial`).
pytestmark = pytest.mark.serial

# The flood goes on, in rounds of ROUND_REQUESTS new addresses, while its marker file exists: the
# test removes it once the visitor's rounds are done. A set time of 15 s once ended before them
# (CI-equivalent run, 2026-12-07: one round of 300 took 15.9 s). `timeout` ends it whatever happens.
FLOOD_MARKER = "/tmp/extagram-flood.on"
FLOOD_MAX_SECONDS = 60
ROUND_REQUESTS = 300
FLOOD_CONNECTIONS = 16
VISITOR_ROUNDS = 8
# nginx_balancer's page limit per address (10 r/s, burst 40) and the poster's pages (1 r/s, 5): what
# may pass at most. Pages made at once for one address (2) hold it lower when the feed is slow.
PAGES_PER_SECOND, PAGE_BURST = 10, 40
ERROR_LOG = "/var/log/nginx/error.log"
AT_ONCE_REFUSAL = 'limiting connections by zone "extagram_uncached_pages"'
POSTER_PAGES_PER_SECOND, POSTER_PAGE_BURST = 1, 5
# The other visitor's median may grow this much during the flood: S5's curl and S1's answers take
# host CPU that the seven TCG guests share (noise of the lab, not the design); a flood that
# reached the feed nodes made pages 10 to 50 times slower.
VISITOR_SLOWDOWN_MAX = 3.0
VISITOR_SLACK_S = 0.5
# The flood's pages that pass the limits can still keep a feed node past S1's read timeout, and S1
# then skips it for fail_timeout (2026-12-07: s2, with the test after this one measuring the shares
# while it was skipped). Once the flood stops, every node serves again: S1 tries the node after
# fail_timeout, and a try that still waits behind the flood's pages costs one read timeout and one
# more fail_timeout.
FEED_BACK_MAX_S = 2 * sum(
    int(role_default("nginx_balancer", name).rstrip("s"))
    for name in ("nginx_balancer_fail_timeout", "nginx_balancer_app_read_timeout")
)


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


def flood(flooder, s1_address, result):
    script = FLOOD_SCRIPT.format(
        marker=FLOOD_MARKER, s1=s1_address, round=ROUND_REQUESTS, connections=FLOOD_CONNECTIONS
    )
    started = time.monotonic()
    result["codes"] = flooder.run(f"timeout {FLOOD_MAX_SECONDS} bash -c {shlex.quote(script)}").stdout.split()
    result["seconds"] = time.monotonic() - started


def visitor_round(s1_address):
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


def visitor_times(s1_address):
    rounds = [visitor_round(s1_address) for _ in range(VISITOR_ROUNDS)]
    return [page for page, _post in rounds], [post for _page, post in rounds]


def test_one_flooding_address_gets_429s_while_another_visitor_keeps_its_times(host):
    s1_address = helpers.address(host)
    flooder = helpers.node(helpers.running("media")[0])
    pages_before, posts_before = visitor_times(s1_address)
    error_log_lines = int(host.check_output(f"wc -l < {ERROR_LOG}"))
    result = {}
    flooder.run_expect([0], f"touch {FLOOD_MARKER}")
    flooding = threading.Thread(target=flood, args=(flooder, s1_address, result))
    flooding.start()
    time.sleep(3)  # the flood under way
    try:
        pages_during, posts_during = visitor_times(s1_address)
        flood_outlasted_the_visitor = flooding.is_alive()
    finally:
        flooder.run(f"rm -f {FLOOD_MARKER}")
        flooding.join()
    feed_back = feed_shares.seconds_until_every_node_serves(f"https://{s1_address}", FEED_BACK_MAX_S)
    assert flood_outlasted_the_visitor, f"the flood ended before the visitor's rounds: {result}"

    codes, seconds = result["codes"], result["seconds"]
    new_errors = f"tail -n +{error_log_lines + 1} {ERROR_LOG}"
    count_refused = f"{new_errors} | grep -c -F {shlex.quote(AT_ONCE_REFUSAL)} || true"
    refused_at_once = int(host.check_output(count_refused))
    passed = [code for code in codes if code != "429"]
    allowed = (PAGES_PER_SECOND + POSTER_PAGES_PER_SECOND) * seconds + PAGE_BURST + POSTER_PAGE_BURST
    print(
        f"\nflood from S5: {len(codes)} requests in {seconds:.1f} s, {codes.count('429')} refused (429), "
        f"{len(passed)} passed (limit {allowed:.0f}): {sorted(set(passed))}; "
        f"{refused_at_once} of the 429s for pages already being made for it"
    )
    back = f"not within {FEED_BACK_MAX_S} s" if feed_back is None else f"{feed_back:.1f} s"
    print(f"every feed node served again {back} after the flood")
    timings = {"page /": (pages_before, pages_during), "post": (posts_before, posts_during)}
    for name, (before, during) in timings.items():
        p50_before, p50_during = statistics.median(before), statistics.median(during)
        print(
            f"other visitor, {name}: p50 {p50_before:.3f} s -> {p50_during:.3f} s, "
            f"max {max(before):.3f} s -> {max(during):.3f} s"
        )
    assert feed_back is not None, f"a feed node was still skipped {FEED_BACK_MAX_S} s after the flood"
    assert codes and codes.count("429") > len(codes) / 2, sorted(set(codes))
    assert len(passed) <= allowed
    for before, during in timings.values():
        p50_before = statistics.median(before)
        bound = max(VISITOR_SLOWDOWN_MAX * p50_before, p50_before + VISITOR_SLACK_S)
        assert statistics.median(during) <= bound, (before, during)
