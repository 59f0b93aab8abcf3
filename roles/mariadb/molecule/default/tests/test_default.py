"""Role mariadb on the database node: private bind, socket-only root, least-privilege accounts.

Runs in roles/mariadb's scenario and in tests/topology.
"""

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("database")
PORT = shared_setting("extagram_shared_db_port")
TEXTFILE_DIR = shared_setting("extagram_shared_textfile_dir")

EXPECTED_PRIVILEGES = {
    "extagram_feed": "GRANT SELECT ON `extagram`.*",
    "extagram_upload": "GRANT SELECT, INSERT, UPDATE ON `extagram`.*",
    "extagram_migrate": "GRANT ALL PRIVILEGES ON `extagram`.*",
}


def sql(host, query):
    return host.check_output(f'mysql --batch --skip-column-names -e "{query}"')


def feed_addresses(host):
    return helpers.addresses_from(host, "mariadb_feed_addresses", "feed")


def upload_addresses(host):
    return helpers.addresses_from(host, "mariadb_upload_addresses", "upload")


def test_mariadb_runs(host):
    for package in ("mariadb-server", "mariadb-client", "python3-pymysql"):
        assert host.package(package).is_installed, package
    service = host.service("mariadb")
    assert service.is_enabled
    assert service.is_running


def test_listens_on_the_private_address_only(host):
    assert host.socket(f"tcp://{helpers.address(host)}:{PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening
    assert not host.socket(f"tcp://127.0.0.1:{PORT}").is_listening
    assert not host.socket(f"tcp://:::{PORT}").is_listening


def test_firewall_lets_in_the_feed_upload_and_backup_nodes_only(host):
    # The backup nodes copy the binary log as it is written (role backup).
    clients = feed_addresses(host) + upload_addresses(host)
    backup = helpers.addresses_from(host, "mariadb_binlog_copy_addresses", "backup")
    helpers.assert_port_open_only_to(host, PORT, clients + backup, "mariadb")


def test_no_other_node_opens_the_database_port():
    helpers.assert_rule_only_on("mariadb", testinfra_hosts)


def test_config(host):
    conf = host.file("/etc/mysql/mariadb.conf.d/60-extagram.cnf")
    assert conf.mode == 0o644
    assert conf.contains("skip-name-resolve")
    assert sql(host, "SELECT @@skip_name_resolve") == "1"
    # Its own GTID domain: a former primary's writes show apart from the next primary's.
    assert sql(host, "SELECT @@gtid_domain_id = @@server_id AND @@gtid_domain_id > 0") == "1"


def test_root_uses_the_unix_socket_only(host):
    rows = sql(host, "SELECT host, plugin FROM mysql.user WHERE user='root'").splitlines()
    assert rows, "root account missing"
    for row in rows:
        assert row.split("\t")[0] == "localhost"
    grants = sql(host, "SHOW GRANTS FOR 'root'@'localhost'")
    assert "unix_socket" in grants
    # No anonymous accounts, no test database.
    assert sql(host, "SELECT COUNT(*) FROM mysql.user WHERE user=''") == "0"
    assert "test" not in sql(host, "SHOW DATABASES").split()


def test_database_is_utf8mb4(host):
    assert (
        sql(
            host,
            "SELECT default_character_set_name FROM information_schema.schemata WHERE schema_name='extagram'",
        )
        == "utf8mb4"
    )


def test_one_account_per_client_with_least_privilege(host):
    feed = feed_addresses(host)
    upload = upload_addresses(host)
    expected_hosts = {"extagram_feed": feed, "extagram_upload": upload, "extagram_migrate": upload}
    for user, hosts in expected_hosts.items():
        actual = sorted(sql(host, f"SELECT host FROM mysql.user WHERE user='{user}'").split())
        assert actual == hosts, user
        for client in hosts:
            grants = sql(host, f"SHOW GRANTS FOR '{user}'@'{client}'")
            assert EXPECTED_PRIVILEGES[user] in grants, (user, client, grants)
            assert "ON *.*" not in grants.replace("GRANT USAGE ON *.*", ""), grants
    assert sql(host, "SELECT COUNT(*) FROM mysql.user WHERE host='%'") == "0"


TLS_DIR = "/etc/mysql/tls"


def test_every_account_that_logs_in_over_tcp_requires_tls(host):
    query = "SELECT CONCAT(user, '@', host, '=', ssl_type) FROM mysql.user WHERE host <> 'localhost'"
    accounts = sql(host, query)
    assert accounts.split(), "no TCP account"
    for account in accounts.split():
        assert account.endswith("=ANY"), account


def test_the_certificate_comes_from_the_private_ca_and_names_the_node(host):
    key = host.file(f"{TLS_DIR}/extagram-db.key")
    assert (key.user, key.group, key.mode) == ("root", "mysql", 0o640)
    host.run_expect([0], f"openssl verify -CAfile {TLS_DIR}/ca.crt {TLS_DIR}/extagram-db.crt")
    names = host.check_output(f"openssl x509 -noout -ext subjectAltName -in {TLS_DIR}/extagram-db.crt")
    assert f"IP Address:{helpers.address(host)}" in names
    assert sql(host, "SELECT @@have_ssl, @@tls_version") == "YES\tTLSv1.2,TLSv1.3"


def test_the_certificates_end_is_published_for_the_node_exporter(host):
    helpers.assert_certificate_end_published(host, TEXTFILE_DIR, f"{TLS_DIR}/extagram-db.crt", "extagram-db")
