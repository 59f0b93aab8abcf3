"""Role mysqld_exporter: MariaDB's state by a passwordless unix_socket account, on the private
address only, read by the monitoring node alone.

Runs in roles/mysqld_exporter's scenario and in tests/topology.
"""

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("database", "feed")
PORT = shared_setting("extagram_shared_mysqld_exporter_port")
SOCKET = shared_setting("extagram_shared_db_socket")


def metrics(host):
    """{series: value} of the exporter, as the monitoring node reads it."""
    body = helpers.scrape(host, PORT)
    return {line.split()[0]: line.split()[-1] for line in body.splitlines() if line and line[0] != "#"}


def is_primary(host):
    primary = helpers.runner().get_variables(host.backend.host).get("extagram_shared_db_primary")
    return host.backend.host == (primary or helpers.hosts("database")[0])


def test_listens_privately_and_only_the_monitoring_node_gets_in(host):
    helpers.assert_exporter_private(host, "prometheus-mysqld-exporter", PORT, "mysqld_exporter")


def test_no_password_anywhere(host):
    settings = host.file("/etc/default/prometheus-mysqld-exporter").content_string
    assert f'DATA_SOURCE_NAME="prometheus@unix({SOCKET})/"' in settings
    grants = host.check_output("mysql --batch --skip-column-names -e 'SHOW GRANTS FOR prometheus@localhost'")
    assert "IDENTIFIED VIA unix_socket" in grants
    assert "PASSWORD" not in grants.upper()


def test_the_account_reads_state_not_data(host):
    grants = sorted(
        host.check_output(
            "mysql --batch --skip-column-names -e 'SHOW GRANTS FOR prometheus@localhost'"
        ).splitlines()
    )
    assert [grant.split(" TO ")[0] for grant in grants] == [
        "GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.*",
        "GRANT SELECT ON `performance_schema`.*",
    ]


def test_the_monitoring_node_reads_mariadb_and_its_replication(host):
    values = metrics(host)
    assert values["mysql_up"] == "1"
    io_running = [
        value for name, value in values.items() if name.startswith("mysql_slave_status_slave_io_running")
    ]
    sql_running = [
        value for name, value in values.items() if name.startswith("mysql_slave_status_slave_sql_running")
    ]
    if is_primary(host):
        assert not io_running and not sql_running
    else:
        assert io_running == ["1"] and sql_running == ["1"]
