"""Development server: private MariaDB + migrations + the app in mode `all`, until Ctrl-C.

    python -m extagram_testing.dev_server [--host 127.0.0.1] [--port 5000]    (`make dev`)

Everything (database files, uploaded photos) lives in temp dirs removed on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile

from extagram import create_app
from extagram_testing import mariadb_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    mariadb_server.stop_on_sigterm()

    with (
        mariadb_server.MariaDBServer() as server,
        tempfile.TemporaryDirectory(prefix="extagram-uploads-") as uploads_dir,
    ):
        accounts = mariadb_server.provision(server)
        print(mariadb_server.migrate(server, accounts))
        app = create_app(
            mariadb_server.app_settings(server, accounts["upload"], mode="all", uploads_dir=uploads_dir)
        )
        print(f"MariaDB on 127.0.0.1:{server.port}, photos in {uploads_dir}")
        print(f"Extagram on http://{args.host}:{args.port}/ (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            app.run(host=args.host, port=args.port, threaded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
