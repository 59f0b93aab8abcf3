"""Runs the app under a real Gunicorn on a free loopback port (tests and benchmark).

As on the nodes, the workers share their metrics through a multiprocess directory of their own
(empty at start, removed at the end), and Gunicorn also listens on a metrics port (`metrics_url`).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile

from extagram_testing import processes
from extagram_testing.mariadb_server import free_port


class GunicornServer:
    def __init__(
        self,
        env: dict[str, str],
        workers: int = 2,
        threads: int = 4,
        config_file: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """`config_file`: a Gunicorn configuration file read first (the arguments here win)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_port = free_port()
        while self.metrics_port == self.port:
            self.metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.metrics_dir = ""  # made at start
        self._command = [
            sys.executable,
            "-m",
            "gunicorn",
            *(["--config", config_file] if config_file else []),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--bind",
            f"127.0.0.1:{self.metrics_port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--timeout",
            "30",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
            *extra_args,
            "extagram:create_app()",
        ]
        self._env = {**env, "EXTAGRAM_METRICS_PORT": str(self.metrics_port)}
        self._process: subprocess.Popen | None = None
        self._log = None
        self._running = contextlib.ExitStack()

    def log(self) -> str:
        return processes.output_of(self._log)

    def __enter__(self) -> GunicornServer:
        with contextlib.ExitStack() as starting:
            # A file, not a pipe: a pipe nobody reads would block Gunicorn once it fills up.
            self._log = starting.enter_context(tempfile.TemporaryFile())
            self.metrics_dir = starting.enter_context(tempfile.TemporaryDirectory(prefix="extagram-metrics-"))
            self._process = subprocess.Popen(
                self._command,
                env={**self._env, "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir},
                start_new_session=True,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            starting.callback(self._stop)
            processes.wait_until_answers(f"{self.url}/healthz", self._process, self._log)
            self._running = starting.pop_all()  # started: __exit__ stops it and drops the log
        return self

    def __exit__(self, *_exc) -> None:
        self._running.close()

    def _stop(self) -> None:
        processes.stop(self._process)
