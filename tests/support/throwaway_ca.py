"""A private CA made for one test session, and a certificate it signs for 127.0.0.1: the tests'
copy of what role pki does for S1 and the database, so a real chain is verified on loopback.

    ca = ThrowawayCA(tmp_dir)           # ca.crt, extagram-balancer.crt and .key in tmp_dir
    ca = ThrowawayCA(tmp_dir, "db")     # ca.crt, db.crt and db.key
    ca.trust_in_nss(home)               # chromium run with HOME=home trusts it, and only then
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

# By default, the file names role nginx_balancer's tls.j2 reads in nginx_balancer_tls_dir.
CERTIFICATE_NAME = "extagram-balancer"
DAYS = 2


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class ThrowawayCA:
    def __init__(self, directory: Path, certificate_name: str = CERTIFICATE_NAME) -> None:
        self.directory = directory
        self.ca_file = directory / "ca.crt"
        self.certificate_file = directory / f"{certificate_name}.crt"
        self.key_file = directory / f"{certificate_name}.key"
        new_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
        _openssl(
            *("req", "-x509", *new_key, "-keyout", "ca.key", "-out", "ca.crt", "-days", str(DAYS)),
            *("-subj", "/CN=Extagram test CA", "-addext", "basicConstraints=critical,CA:TRUE"),
            *("-addext", "keyUsage=critical,keyCertSign"),
            cwd=directory,
        )
        _openssl(
            *("req", *new_key, "-keyout", self.key_file.name, "-out", "leaf.csr"),
            *("-subj", "/CN=127.0.0.1"),
            cwd=directory,
        )
        (directory / "leaf.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        _openssl(
            *("x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"),
            *("-days", str(DAYS), "-extfile", "leaf.ext", "-out", self.certificate_file.name),
            cwd=directory,
        )

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def trust_in_nss(self, home: Path) -> None:
        """The NSS database chromium reads under HOME (~/.pki/nssdb), trusting this CA for servers."""
        database = home / ".pki" / "nssdb"
        database.mkdir(parents=True)
        nss = f"sql:{database}"
        subprocess.run(["certutil", "-d", nss, "-N", "--empty-password"], check=True, capture_output=True)
        subprocess.run(
            ["certutil", "-d", nss, "-A", "-t", "C,,", "-n", "extagram-test-ca", "-i", str(self.ca_file)],
            check=True,
            capture_output=True,
        )
