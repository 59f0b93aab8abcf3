"""Role nginx_balancer on S1: routing config, headers, limits, friendly error pages, stub_status.

Runs in roles/nginx_balancer's scenario (no upstream node running: the friendly 503 page is
checked there) and in tests/topology (every upstream up; end-to-end checks live in
tests/topology/molecule/default/tests/test_topology.py).
"""

import shlex
import uuid

import pytest

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("balancer")
# Bursts S1's limits from its own address and stops upstreams: alone, after the parallel tests.
pytestmark = pytest.mark.serial
CONF = "/etc/nginx/conf.d/extagram-balancer.conf"
PORT = 80
APP_PORT = shared_setting("extagram_shared_app_port")
STATIC_PORT = shared_setting("extagram_shared_static_port")
MAX_PHOTO_BYTES = shared_setting("extagram_shared_max_upload_bytes")
# In the role's own scenario no upload node runs: the upstreams are addresses only.
UPSTREAMS_RUNNING = bool(helpers.running("upload"))


def servers(host, group):
    """The upstream members: nginx_balancer_<group>_servers if the inventory sets it, else the group."""
    return helpers.addresses_from(host, f"nginx_balancer_{group}_servers", group)


def test_nginx_runs_with_a_valid_config(host):
    helpers.assert_nginx_runs(host, PORT)
    host.run_expect([0], f"/usr/local/sbin/nginx-check-snippet {CONF}")


def test_firewall_lets_everyone_in(host):
    helpers.assert_port_open_only_to(host, PORT, None, "nginx_balancer")


def test_no_other_node_opens_the_public_port():
    helpers.assert_rule_only_on("nginx_balancer", testinfra_hosts)


def test_upstreams_follow_the_inventory(host):
    conf = host.file(CONF).content_string
    # An inventory host's optional `weight` (default 1) becomes its upstream weight.
    weights = {
        helpers.address(name): helpers.runner().get_variables(name).get("weight", 1)
        for name in helpers.hosts("feed")
    }
    for address in servers(host, "feed"):
        assert f"server {address}:{APP_PORT} weight={weights.get(address, 1)} max_fails=" in conf
    for address in servers(host, "upload"):
        assert f"server {address}:{APP_PORT} max_fails=" in conf
    media = servers(host, "media")
    assets = servers(host, "assets")
    storage = conf.split("upstream extagram_storage {")[1].split("}")[0]
    static = conf.split("upstream extagram_static {")[1].split("}")[0]
    for address in media:
        assert f"server {address}:{STATIC_PORT} " in storage
        assert f"{address}:{STATIC_PORT} max_fails=2 fail_timeout=10s backup" in static
    for address in assets:
        assert f"server {address}:{STATIC_PORT} " in static
        assert f"{address}:{STATIC_PORT} max_fails=2 fail_timeout=10s backup" in storage
    for upstream in ("extagram_feed", "extagram_storage", "extagram_static"):
        block = conf.split(f"upstream {upstream} {{")[1].split("}")[0]
        assert f"zone {upstream} " in block and "keepalive " in block
    # Uploads open a new connection each: a halted upload node must fail fast (connect timeout).
    block = conf.split("upstream extagram_upload {")[1].split("}")[0]
    assert "zone extagram_upload " in block and "keepalive" not in block
    assert 'proxy_set_header Connection "";' in conf
    assert "proxy_http_version 1.1;" in conf
    # A POST that reached a backend must never be replayed on another one.
    retries = [line for line in conf.splitlines() if line.strip().startswith("proxy_next_upstream ")]
    assert retries and not any("non_idempotent" in line for line in retries)


def test_feed_locations_are_cached_and_everything_else_is_not(host):
    conf = host.file(CONF).content_string
    for location in ("location = / {", "location = /extagram.php {", "location /api/ {"):
        assert "proxy_cache extagram_feed_cache;" in conf.split(location)[1].split("}")[0], location
    assert "proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;" in conf
    for location in ("location / {", "location /storage/ {", "location /static/ {", "location = /upload {"):
        block = conf.split(location)[1].split("}")[0]
        assert "proxy_cache" not in block, location
    # "Can I post?" is shared for a moment but never answered from a stale copy.
    status = conf.split("location = /upload/status {")[1].split("}")[0]
    assert "proxy_cache extagram_feed_cache;" in status and "proxy_cache_use_stale" not in status
    # nginx's workers own it, even after the snippet checker ran `nginx -t` as root (it did not).
    host.run_expect([0], f"/usr/local/sbin/nginx-check-snippet {CONF}")
    assert host.file("/var/cache/nginx/extagram-feed").user == "www-data"


def test_security_headers(host):
    _status, headers, _body = helpers.site_fetch(host, "/")
    assert "x-content-type-options: nosniff" in headers
    assert "content-security-policy: default-src 'self'; img-src 'self' blob: data:;" in headers
    assert "frame-ancestors 'none'" in headers
    assert "referrer-policy: strict-origin-when-cross-origin" in headers
    assert "x-xss-protection: 1" not in headers
    assert "server: nginx\n" in headers + "\n"  # no version


def test_stub_status_is_local_only(host):
    status, _headers, body = helpers.site_fetch(host, "/nginx_status")
    assert status == 200 and "Active connections" in body
    status, _headers, _body = helpers.site_fetch(host, "/nginx_status", via=helpers.address(host))
    assert status == 403


def test_too_large_upload_gets_the_friendly_413_page_with_the_limit(host):
    # Above S1's body limit (the photo limit plus 1 MiB of form framing).
    too_large = MAX_PHOTO_BYTES + 2 * 1024 * 1024
    host.run_expect([0], f"head -c {too_large} /dev/zero > /tmp/extagram-too-large.bin")
    try:
        # Over HTTP/2, as browsers send it: nginx answered its bare 413 there until the error
        # pages' location lifted its own body limit.
        status, _headers, body = helpers.site_fetch(
            host, "/upload.php", "--http2", "-F post=big", "-F photo=@/tmp/extagram-too-large.bin"
        )
    finally:
        host.run("rm -f /tmp/extagram-too-large.bin")
    assert status == 413
    assert "too large" in body
    assert f"at most {MAX_PHOTO_BYTES // (1024 * 1024)} MiB" in body


BURST_DIR = "/tmp/extagram-burst"
# Room for every limit's bucket to fill again before the next test (5 uploads at 1/s).
REFILL = "sleep 6"


def burst(host, count, path, *options, numbered="", first=1):
    """`count` requests for `path` sent in parallel by one curl: [(status, content type, saved body)].

    Each has its own query: `numbered` (e.g. "before=") and a number counting from `first`.
    """
    target = helpers.site_target(host, f"{path}?{numbered}[{first}-{first + count - 1}]")
    out = host.check_output(
        f"rm -rf {BURST_DIR} && mkdir {BURST_DIR} && "
        f"curl -s -Z --parallel-max 100 --max-time 30 {' '.join(options)} -o '{BURST_DIR}/#1' "
        f"-w '%{{http_code}} %{{content_type}} %{{url}}\\n' {target}"
    )
    answers = []
    for line in out.splitlines():
        status, content_type, sent_to = line.split(" ", 2)
        number = sent_to.rsplit("?", 1)[1].removeprefix(numbered)
        answers.append((status, content_type, f"{BURST_DIR}/{number}"))
    return answers


def refused(host, answers, message):
    """The 429 answers, after checking that each one is the friendly page saying `message`."""
    limited = [answer for answer in answers if answer[0] == "429"]
    assert all(content_type.startswith("text/html") for _, content_type, _ in limited), limited
    if limited:
        bodies = " ".join(body for _, _, body in limited)
        assert host.check_output(f"grep -L -F {shlex.quote(message)} {bodies} || true") == ""
    return limited


def test_one_address_posting_fast_gets_the_friendly_429_page(host):
    answers = burst(host, 20, "/upload.php", "-X POST -F post=")
    # 1 at the rate and 5 in the burst get through (400: no text, or 503 with no upload node).
    limited = refused(host, answers, "posting faster")
    assert len(answers) == 20 and 0 < len(limited) < 20, answers
    host.run(REFILL)


def test_uploads_of_every_address_together_are_limited(host):
    # Eight client addresses (all of 127.0.0.0/8 is local), five posts each: each one stays
    # inside its own burst, so every 429 here comes from the limit on all addresses together.
    senders = [
        f"(curl -s -Z --interface 127.0.0.{n} --max-time 30 -o /dev/null -w '%{{http_code}}\\n' "
        f"-X POST -F post= {helpers.site_target(host, '/upload.php?[1-5]')})"
        for n in range(2, 10)
    ]
    codes = host.check_output(" & ".join(senders) + " & wait").split()
    assert len(codes) == 40 and "429" in codes and codes.count("429") < 40, codes
    host.run(REFILL)


def test_pages_are_limited_per_address_above_what_a_reader_needs(host):
    answers = burst(host, 30, "/healthz")
    assert len(answers) == 30 and not refused(host, answers, "Too many requests")  # the burst is 40
    host.run(REFILL)
    answers = burst(host, 200, "/healthz")
    assert len(answers) == 200 and refused(host, answers, "Too many requests")
    host.run(REFILL)


UNCACHED_PAGES_AT_ONCE = 2  # nginx_balancer_uncached_pages_at_once


@pytest.mark.skipif(not UPSTREAMS_RUNNING, reason="needs the feed nodes")
def test_pages_with_a_query_are_made_a_few_at_a_time_per_address(host):
    # Twenty older pages no one has asked for (new numbers each run): inside the pages' burst of
    # 40, so every 429 comes from the limit on pages being made at once for this address.
    first = uuid.uuid4().int % 10**15 + 10**15
    answers = burst(host, 20, "/", numbered="before=", first=first)
    limited = refused(host, answers, "Too many requests")
    made = [answer for answer in answers if answer[0] == "200"]
    assert len(answers) == 20 and limited and len(made) >= UNCACHED_PAGES_AT_ONCE, answers
    host.run(REFILL)
    # The shared page has no query: one copy serves everyone, as many at once as the pages' burst.
    pages = " ".join([f"-o /dev/null {helpers.site_target(host, '/')}"] * 20)
    codes = host.check_output(f"curl -s -Z --parallel-max 20 --max-time 30 -w '%{{http_code}}\\n' {pages}")
    assert codes.split() == ["200"] * 20, codes
    host.run(REFILL)


# 127.0.0.2 is local to S1 but in no list of the inventory: a visitor from outside.
OUTSIDER = "--interface 127.0.0.2"


def test_only_internal_clients_see_which_node_answered_and_the_health(host):
    status, _headers, body = helpers.site_fetch(host, "/healthz", OUTSIDER)
    assert status == 404 and "No such page" in body
    for path in ("/", "/api/posts", "/static/style.css"):
        _status, headers, _body = helpers.site_fetch(host, path, OUTSIDER)
        assert "x-served-by" not in headers and "x-read-from" not in headers, path
    if UPSTREAMS_RUNNING:
        status, headers, body = helpers.site_fetch(host, "/healthz")
        assert status == 200 and '"replica"' in body and "x-served-by" in headers


@pytest.mark.skipif(not UPSTREAMS_RUNNING, reason="needs the feed nodes and the static nodes")
def test_a_photo_no_post_has_is_remembered_briefly(host):
    missing = f"/storage/{uuid.uuid4().hex}.jpg"
    answers = [helpers.site_fetch(host, missing) for _ in range(2)]
    assert [status for status, _headers, _body in answers] == [404, 404]
    assert "x-cache-status: miss" in answers[0][1] and "x-cache-status: hit" in answers[1][1]


POSTER_PAGE_BURST = 5  # nginx_balancer_poster_page_burst


def test_posters_pages_are_limited_per_address_at_the_pace_of_posting(host):
    # A proof of the right shape (the app refuses its signature with a 303 to /): S1 cannot check
    # it, so it limits how often one address may skip the cache with one.
    page = helpers.site_target(host, "/?posted=1.1700000000.0123456789abcdef0123456789abcdef")
    pages = " ".join([f"-o /dev/null {page}"] * 20)
    codes = host.check_output(
        f"curl -s -Z --parallel-max 20 --max-time 30 -w '%{{http_code}}\\n' {pages}"
    ).split()
    answered = [code for code in codes if code != "429"]
    assert len(codes) == 20 and 0 < len(answered) <= 1 + POSTER_PAGE_BURST + 1, codes
    # The shared page is not held back by it.
    assert helpers.site_fetch(host, "/")[0] != 429
    host.run(REFILL)


def test_access_log_has_upstream_timings(host):
    helpers.site_fetch(host, "/healthz")
    last = host.check_output("tail -n 1 /var/log/nginx/extagram-balancer.access.log")
    for field in ("rt=", "ua=", "us=", "urt="):
        assert field in last


@pytest.mark.skipif(UPSTREAMS_RUNNING, reason="needs the upload node down (role scenario)")
def test_upload_node_down_gives_the_friendly_503_page(host):
    status, headers, body = helpers.site_fetch(host, "/upload.php", "-F post=hello")
    assert status == 503
    assert "text/html" in headers
    assert "temporarily unavailable" in body


@pytest.mark.skipif(UPSTREAMS_RUNNING, reason="needs every feed node down (role scenario)")
def test_feed_nodes_down_give_the_friendly_503_page(host):
    for path in ("/", "/extagram.php", "/api/posts"):
        status, headers, body = helpers.site_fetch(host, path)
        assert status == 503, path
        assert "text/html" in headers
        assert "temporarily unavailable" in body and "bad gateway" not in body.lower()
