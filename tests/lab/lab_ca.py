"""The private CA the lab's S1 is signed by (role pki), for the clients that run on the controller.

Every node trusts it already (role common); the controller's clients (the failover load, the lab
figures, the tests' own requests) verify S1's chain against this file and never turn verification off.
"""

import os
import pathlib
import ssl

from extagram_lab.common import REPO

LAB_SECRETS = REPO / ".secrets" / "vagrant"


def ca_file() -> pathlib.Path:
    """The CA in the secrets of the Molecule scenario in use (`make test` names the topology's
    ephemeral directory for all its steps; `make check` its own), else in those `make up` made."""
    ephemeral = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    secrets = pathlib.Path(ephemeral) / "secrets" if ephemeral else LAB_SECRETS
    return secrets / "pki" / "ca.crt"


def ssl_context() -> ssl.SSLContext:
    """Verifies the chain against the lab's CA, and the name (S1's address is in its certificate)."""
    return ssl.create_default_context(cafile=str(ca_file()))
