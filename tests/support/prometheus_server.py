"""Debian's real Prometheus on a free loopback port with role prometheus's console templates.

    targets = [Target("extagram", "127.0.0.1:8001", "s2")]
    with PrometheusServer(targets) as prometheus:
        prometheus.wait_for_samples(3)
        page = dashboard_page(prometheus)   # rendered without a template error, every section

Each target gets the labels the role's scrape configuration gives it (`instance`, and any
others: `db_role`); its path may differ, so one exporter can stand for several nodes. The
console library directory is empty, as Debian's /etc/prometheus/console_libraries is.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from extagram_testing.mariadb_server import free_port
from extagram_testing.processes import output_of, stop, wait_until_answers

CONSOLES = Path(__file__).resolve().parents[2] / "roles/prometheus/files/etc/prometheus/consoles"
PROMETHEUS = shutil.which("prometheus")
DASHBOARD = "/consoles/extagram.html"
DASHBOARD_SECTIONS = ("alerts", "targets", "app", "balancer", "database", "backups")
# Short, so a test has the few samples a rate needs within seconds.
SCRAPE_INTERVAL = "1s"


@dataclass(frozen=True)
class Target:
    job: str
    address: str  # host:port
    instance: str
    labels: dict[str, str] = field(default_factory=dict)
    path: str = "/metrics"

    def static_config(self) -> dict:
        labels = {"instance": self.instance, "__metrics_path__": self.path, **self.labels}
        return {"targets": [self.address], "labels": labels}


def scrape_config(targets: list[Target], rule_files: list[str]) -> dict:
    jobs = sorted({target.job for target in targets})
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": rule_files,
        "scrape_configs": [
            {
                "job_name": job,
                "static_configs": [target.static_config() for target in targets if target.job == job],
            }
            for job in jobs
        ],
    }


class PrometheusServer:
    def __init__(self, targets: list[Target], rules: dict | None = None) -> None:
        """`rules`: a rule file's content, or none."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._targets = targets
        self._rules = rules
        self._running = contextlib.ExitStack()
        self._log = None

    def __enter__(self) -> PrometheusServer:
        with contextlib.ExitStack() as starting:
            home = Path(starting.enter_context(tempfile.TemporaryDirectory(prefix="extagram-prometheus-")))
            rule_files = []
            if self._rules:
                (home / "rules.yml").write_text(yaml.safe_dump(self._rules))
                rule_files.append(str(home / "rules.yml"))
            (home / "prometheus.yml").write_text(yaml.safe_dump(scrape_config(self._targets, rule_files)))
            (home / "console_libraries").mkdir()
            # A file, not a pipe: a pipe nobody reads would block Prometheus once it fills up.
            self._log = starting.enter_context(tempfile.TemporaryFile())
            process = subprocess.Popen(
                [
                    *(PROMETHEUS, f"--config.file={home / 'prometheus.yml'}"),
                    f"--storage.tsdb.path={home / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    f"--web.console.templates={CONSOLES}",
                    f"--web.console.libraries={home / 'console_libraries'}",
                ],
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            starting.callback(stop, process)
            wait_until_answers(f"{self.url}/-/ready", process, self._log)
            self._running = starting.pop_all()
        return self

    def __exit__(self, *_exc) -> None:
        self._running.close()

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def query(self, expr: str) -> list[dict]:
        status, body = self.get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert status == 200, body
        return json.loads(body)["data"]["result"]

    def wait_for_samples(self, count: int) -> None:
        """Until every target has been scraped `count` times (a rate needs two)."""
        self.wait_until(f"count(count_over_time(up[5m]) >= {count}) == {len(self._targets)}")

    def wait_until(self, expr: str, timeout: float = 30) -> None:
        """Until the query `expr` gives a result."""
        deadline = time.monotonic() + timeout
        while not self.query(expr):
            assert time.monotonic() < deadline, f"no result for {expr}:\n{output_of(self._log)}"
            time.sleep(0.5)


def dashboard_page(prometheus: PrometheusServer) -> str:
    """The dashboard's HTML, after checking it rendered whole."""
    status, page = prometheus.get(DASHBOARD)
    assert status == 200, page
    # Prometheus's words for a template that failed (sent with a 500).
    assert "error executing template" not in page
    for section in DASHBOARD_SECTIONS:
        assert f'<section id="{section}">' in page
    return page
