"""Role mariadb on the database node: private bind, socket-only root, least-privilege accounts.

Runs in roles/mariadb's scenario and in tests/topology.
"""

import os

import testinfra.utils.ansible_runner

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(
    os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
)
testinfra_hosts = RUNNER.get_hosts("database")

EXPECTED_PRIVILEGES = {
    "extagram_feed": "GRANT SELECT ON `extagram`.*",
    "extagram_upload": "GRANT SELECT, INSERT ON `extagram`.*",
    "extagram_migrate": "GRANT ALL PRIVILEGES ON `extagram`.*",
}


def sql(host, query):
    return host.check_output(f'mysql --batch --skip-column-names -e "{query}"')


def client_addresses(host, variable, group):
    variables = host.ansible.get_variables()
    if variable in variables:
        return sorted(variables[variable])
    return sorted(RUNNER.get_variables(name)["ansible_host"] for name in RUNNER.get_hosts(group))


def test_mariadb_runs(host):
    for package in ("mariadb-server", "mariadb-client", "python3-pymysql"):
        assert host.package(package).is_installed, package
    service = host.service("mariadb")
    assert service.is_enabled
    assert service.is_running


def test_listens_on_the_private_address_only(host):
    address = host.ansible.get_variables()["ansible_host"]
    assert host.socket(f"tcp://{address}:3306").is_listening
    assert not host.socket("tcp://0.0.0.0:3306").is_listening
    assert not host.socket("tcp://127.0.0.1:3306").is_listening
    assert not host.socket("tcp://:::3306").is_listening


def test_config(host):
    conf = host.file("/etc/mysql/mariadb.conf.d/60-extagram.cnf")
    assert conf.mode == 0o644
    assert conf.contains("skip-name-resolve")
    assert sql(host, "SELECT @@skip_name_resolve") == "1"


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
    assert sql(
        host, "SELECT default_character_set_name FROM information_schema.schemata WHERE schema_name='extagram'"
    ) == "utf8mb4"


def test_one_account_per_client_with_least_privilege(host):
    feed = client_addresses(host, "mariadb_feed_addresses", "feed")
    upload = client_addresses(host, "mariadb_upload_addresses", "upload")
    expected_hosts = {"extagram_feed": feed, "extagram_upload": upload, "extagram_migrate": upload}
    for user, hosts in expected_hosts.items():
        actual = sorted(sql(host, f"SELECT host FROM mysql.user WHERE user='{user}'").split())
        assert actual == hosts, user
        for client in hosts:
            grants = sql(host, f"SHOW GRANTS FOR '{user}'@'{client}'")
            assert EXPECTED_PRIVILEGES[user] in grants, (user, client, grants)
            assert "ON *.*" not in grants.replace("GRANT USAGE ON *.*", ""), grants
    assert sql(host, "SELECT COUNT(*) FROM mysql.user WHERE host='%'") == "0"
