"""The replicas' account on the primary can replicate and copy, and nothing more (issue 25).

Runs from the feed nodes (the only addresses it exists for): roles/mariadb's scenario (s2) and
tests/topology (s2 and s3).
"""

import pytest

from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("feed")
# The replication account's client file (role mariadb): the primary's address, TLS verified.
AS_REPLICA = "mysql --defaults-extra-file=/etc/mysql/extagram-primary.cnf -BN"
NO_PRIVILEGE = ("1227", "1044", "1142")  # access denied: privilege, database, table


def test_it_holds_the_replication_and_copy_grants_only(host):
    grants = host.check_output(f'{AS_REPLICA} -e "SHOW GRANTS"')
    assert "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.*" in grants, grants
    assert "GRANT SELECT, SHOW VIEW, TRIGGER ON `extagram`.*" in grants, grants
    assert "RELOAD" not in grants and "LOCK TABLES" not in grants


@pytest.mark.parametrize(
    "statement",
    [
        "RESET MASTER",
        "FLUSH TABLES WITH READ LOCK",
        "FLUSH LOGS",
        "LOCK TABLES extagram.posts READ",
        "INSERT INTO extagram.posts (post) VALUES ('replica account')",
    ],
)
def test_it_cannot_touch_the_primary(host, statement):
    refused = host.run(f'{AS_REPLICA} -e "{statement}"')
    assert refused.rc != 0 and any(f"ERROR {code}" in refused.stderr for code in NO_PRIVILEGE), refused.stderr
