"""The mtail program role nginx_log_metrics deploys on S1, run by the real mtail on sample lines.

`mtail --one_shot` compiles roles/nginx_log_metrics/files/etc/mtail/extagram_balancer.mtail (the
file the role copies), reads a log from its start and prints the metrics. The lines are in
nginx_balancer's extagram_upstream format, the awkward ones included: several upstreams asked,
an escaped quote, a cache hit nginx logs as taking 0.000 s. Debian's `mtail` package (the
Makefile's HOST_PACKAGES) gives /usr/bin/mtail.
"""

import pytest

from extagram_testing.mtail import MTAIL, requests_by_labels, run_balancer_program

pytestmark = pytest.mark.skipif(
    MTAIL is None, reason="mtail not installed (Debian package mtail: the Makefile's HOST_PACKAGES)"
)

HEAD = '192.0.2.1 - - [07/Dec/2026:10:00:00 +0000] "{request}" {status} 512 "-" "{agent}" '
LINES = [
    # A miss, then two hits nginx answered within its millisecond (0.000).
    HEAD + "rt=0.004 ua=192.168.56.12:8000 us=200 uct=0.001 urt=0.004 ucs=MISS uk=feed",
    HEAD + "rt=0.000 ua=- us=- uct=- urt=- ucs=HIT uk=feed",
    HEAD + "rt=0.000 ua=- us=- uct=- urt=- ucs=HIT uk=feed",
    # No feed node answered: two asked, S1's own 503 page.
    HEAD.replace("{status}", "503")
    + "rt=4.012 ua=192.168.56.12:8000, 192.168.56.13:8000 us=504, 502 uct=-, - urt=4.001, 0.002 "
    + "ucs=MISS uk=feed",
    # An upload, nothing cached there; S1's own 429 page; a photo from S5.
    HEAD.replace("{status}", "303")
    + "rt=0.140 ua=192.168.56.14:8000 us=303 uct=0.001 urt=0.139 ucs=- uk=upload",
    HEAD.replace("{status}", "429") + "rt=0.000 ua=- us=- uct=- urt=- ucs=- uk=upload",
    HEAD + "rt=0.002 ua=192.168.56.15:80 us=200 uct=0.000 urt=0.002 ucs=- uk=storage",
    # S1's 404 for /metrics.
    HEAD.replace("{status}", "404") + "rt=0.000 ua=- us=- uct=- urt=- ucs=- uk=none",
]
SAMPLE = "\n".join(
    line.replace("{request}", "GET / HTTP/2.0").replace("{status}", "200").replace("{agent}", "a \\x22b\\x22")
    for line in LINES
)


def run_program(tmp_path, log_text: str) -> dict[tuple[str, frozenset], float]:
    log = tmp_path / "access.log"
    log.write_text(log_text + "\n")
    return run_balancer_program(log)


def test_requests_are_counted_by_upstream_cache_status_and_code(tmp_path):
    samples = run_program(tmp_path, SAMPLE)
    assert requests_by_labels(samples) == {
        ("feed", "MISS", "200"): 1,
        ("feed", "HIT", "200"): 2,
        ("feed", "MISS", "503"): 1,
        ("upload", "none", "303"): 1,
        ("upload", "none", "429"): 1,
        ("storage", "none", "200"): 1,
        ("none", "none", "404"): 1,
    }
    assert samples[("extagram_balancer_log_lines_unparsed_total", frozenset())] == 0


def test_latency_buckets_hold_every_request_even_a_zero(tmp_path):
    samples = run_program(tmp_path, SAMPLE)

    def bucket(upstream, le):
        key = frozenset({("upstream", upstream), ("le", le)})
        return samples[("extagram_balancer_request_duration_seconds_bucket", key)]

    def count(upstream):
        return samples[
            ("extagram_balancer_request_duration_seconds_count", frozenset({("upstream", upstream)}))
        ]

    assert count("feed") == 4
    assert bucket("feed", "0.005") == 3  # the miss (4 ms) and both hits (0.000)
    assert bucket("feed", "2.5") == 3
    assert bucket("feed", "5") == bucket("feed", "+Inf") == 4
    assert bucket("upload", "0.005") == 1 and bucket("upload", "+Inf") == count("upload") == 2
    assert not any(dict(labels).get("le") in ("-1", "-1.0") for _name, labels in samples)


def test_a_line_in_another_format_is_counted_as_unparsed(tmp_path):
    # The format before ucs= and uk= were added, and a truncated line.
    old = LINES[0].rsplit(" ucs=", 1)[0]
    samples = run_program(
        tmp_path, old.replace("{request}", "GET / HTTP/2.0").replace("{status}", "200") + "\nGET"
    )
    assert samples[("extagram_balancer_log_lines_unparsed_total", frozenset())] == 2
    assert requests_by_labels(samples) == {}
