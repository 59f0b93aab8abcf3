"""The primary's TLS as its clients see it, from the feed nodes (replicas, allowed by the firewall).

Runs in roles/mariadb's scenario (s2) and in tests/topology (s2 and s3).
"""

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("feed")
PORT = shared_setting("extagram_shared_db_port")
CA = "/etc/mysql/tls/ca.crt"
# The replication account's client file (role mariadb): the primary's address, TLS verified.
PRIMARY_CLIENT = "/etc/mysql/extagram-primary.cnf"


def primary_address():
    return helpers.address(helpers.hosts("database")[0])


def handshake(host, *options):
    """openssl's TLS handshake with the primary after MariaDB's own greeting (STARTTLS)."""
    target = f"{primary_address()}:{PORT}"
    return host.run(
        f"openssl s_client -starttls mysql -connect {target} -CAfile {CA} -verify_return_error "
        f"-verify_ip {primary_address()} {' '.join(options)} </dev/null"
    )


def test_the_replica_follows_the_primary_over_verified_tls(host):
    status = helpers.replica_status(host)
    assert status["Slave_IO_Running"] == "Yes", status.get("Last_IO_Error")
    assert status["Master_SSL_Allowed"] == "Yes"
    assert status["Master_SSL_Verify_Server_Cert"] == "Yes"
    assert status["Master_SSL_CA_File"] == CA


def test_the_replication_account_connects_over_tls_only(host):
    query = "SHOW SESSION STATUS LIKE 'Ssl_version'"
    with_file = host.check_output(f'mysql --defaults-extra-file={PRIMARY_CLIENT} -BN -e "{query}"')
    assert with_file.split("\t")[1] in ("TLSv1.2", "TLSv1.3")
    # The same login without the file (its TLS options win over --skip-ssl): the password is
    # right, since the TLS login is let in; only the plain one is refused.
    password = f"$(awk -F ' = ' '/^password/ {{print $2}}' {PRIMARY_CLIENT})"
    login = f'MYSQL_PWD="{password}" mysql --no-defaults -h {primary_address()} -P {PORT} -u extagram_replica'
    verified = host.run(f'{login} --ssl-ca={CA} --ssl-verify-server-cert -BN -e "{query}"')
    assert verified.rc == 0 and "TLSv1." in verified.stdout, verified.stderr
    plain = host.run(f'{login} --skip-ssl -BN -e "{query}"')
    assert plain.rc != 0 and "Access denied" in plain.stderr, plain.stderr


def test_the_primary_speaks_tls_1_2_and_1_3_only_with_a_verified_chain(host):
    for version in ("-tls1_2", "-tls1_3"):
        answer = handshake(host, version)
        assert answer.rc == 0 and "Verify return code: 0 (ok)" in answer.stdout, answer.stdout[-600:]
    # Debian's OpenSSL would not offer TLS 1.1 at its default level: lowered, the server says no.
    old = handshake(host, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert old.rc != 0 and "Cipher is (NONE)" in old.stdout, old.stdout[-600:]
