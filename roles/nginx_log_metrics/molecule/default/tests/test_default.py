"""Role nginx_log_metrics: mtail reads S1's access log, on the private address only.

Runs in roles/nginx_log_metrics's scenario (no nginx there: a line is written as nginx would) and in
tests/topology (a real request through S1).
"""

import re
import time

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("balancer")
PORT = shared_setting("extagram_shared_mtail_port")
LOG = shared_setting("extagram_shared_balancer_access_log")
# A line of nginx_balancer's extagram_upstream format: a 418 no request of the site gets.
SAMPLE = (
    '192.0.2.1 - - [07/Dec/2026:10:00:00 +0000] "GET /api/posts HTTP/2.0" 418 0 "-" "testinfra" '
    "rt=0.002 ua=192.0.2.12:8000 us=418 uct=0.000 urt=0.002 ucs=MISS uk=feed"
)


def test_runs_privately_and_only_the_monitoring_node_gets_in(host):
    helpers.assert_exporter_private(host, "mtail", PORT, "nginx_log_metrics")
    assert "adm" in host.check_output("id -nG mtail").split()


def test_the_live_program_compiles(host):
    host.run_expect([0], "mtail --compile_only --port 0 --logtostderr --progs /etc/mtail")
    assert f"LOGS={LOG}" in host.file("/etc/default/mtail").content_string


def counted(host, pattern):
    """The sum of the series of extagram_balancer_requests_total whose labels match `pattern`."""
    text = helpers.scrape(host, PORT)
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("extagram_balancer_requests_total{") and re.search(pattern, line)
    )


def test_a_logged_request_is_counted_by_upstream_cache_and_status(host):
    if host.service("nginx").is_running:
        pattern = r'upstream="feed"'
        before = counted(host, pattern)
        status, _, _ = helpers.site_fetch(host, "/api/posts")
        assert status == 200
    else:
        pattern = r'cache="MISS".*status="418".*upstream="feed"'
        before = counted(host, pattern)
        host.run_expect([0], f"printf '%s\\n' '{SAMPLE}' >> {LOG}")
    deadline = time.monotonic() + 20
    while counted(host, pattern) <= before:
        assert time.monotonic() < deadline, "mtail did not count the new line"
        time.sleep(1)
    assert "extagram_balancer_log_lines_unparsed_total 0" in helpers.scrape(host, PORT)
