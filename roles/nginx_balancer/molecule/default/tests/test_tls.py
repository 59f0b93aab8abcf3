"""Role nginx_balancer's HTTPS on S1: TLS 1.2 and 1.3 only, forward-secret ciphers, the chain
verified against the private CA (role pki), HTTP/2, HSTS, and plain HTTP sent to HTTPS.

Every request here is checked the way a browser would: curl and openssl verify the chain against
the CA S1 trusts (role common) and the name (the node's own, resolved to 127.0.0.1), never with -k.
Runs in roles/nginx_balancer's scenario and in tests/topology; reads only, so in the parallel pass.
"""

import pytest

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("balancer")
HTTPS_PORT = 443
TLS_DIR = "/etc/nginx/tls"
CA = f"{TLS_DIR}/ca.crt"
CERTIFICATE = f"{TLS_DIR}/extagram-balancer.crt"
# Answered by S1 itself (stub_status, local clients), whether or not an upstream runs.
LOCAL_PATH = "/nginx_status"
RENEW_DAYS = 30  # role pki's pki_renew_days
PUBLIC_CA = "/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt"  # from Debian's ca-certificates
HSTS_DEFAULT_MAX_AGE = 31536000  # nginx_balancer_hsts_max_age's default
TEXTFILE_DIR = shared_setting("extagram_shared_textfile_dir")


def handshake(host, *options):
    """openssl s_client against S1's HTTPS port, checking the chain and the node's name."""
    name = host.backend.host
    return host.run(
        f"openssl s_client -connect 127.0.0.1:{HTTPS_PORT} -servername {name} -CAfile {CA} "
        f"-verify_hostname {name} -verify_return_error {' '.join(options)} < /dev/null"
    )


def test_https_is_open_to_everyone(host):
    assert host.socket(f"tcp://0.0.0.0:{HTTPS_PORT}").is_listening
    helpers.assert_port_open_only_to(host, HTTPS_PORT, None, "nginx_balancer_https")


def test_no_other_node_opens_the_https_port():
    helpers.assert_rule_only_on("nginx_balancer_https", testinfra_hosts)


def test_the_certificate_is_the_cas_for_the_inventorys_names_and_far_from_its_end(host):
    host.run_expect([0], f"openssl verify -CAfile {CA} {CERTIFICATE}")
    host.run_expect([0], f"openssl verify {CERTIFICATE}")  # the node's own trust has the CA
    names = host.check_output(f"openssl x509 -noout -ext subjectAltName -in {CERTIFICATE}")
    assert f"DNS:{host.backend.host}" in names and f"IP Address:{helpers.address(host)}" in names, names
    # The one command that shows its end (docs/security.md); -checkend fails within RENEW_DAYS.
    assert host.check_output(f"openssl x509 -noout -enddate -in {CERTIFICATE}").startswith("notAfter=")
    host.run_expect([0], f"openssl x509 -noout -checkend {RENEW_DAYS * 86400} -in {CERTIFICATE}")
    key = host.file(f"{TLS_DIR}/extagram-balancer.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o640)


def test_the_certificates_end_is_published_for_the_node_exporter(host):
    # Role pki writes it even here, without a node exporter (site.yml installs that later).
    helpers.assert_certificate_end_published(host, TEXTFILE_DIR, CERTIFICATE, "extagram-balancer")


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_tls_1_2_and_1_3_verify_against_the_ca(host, version):
    status, _headers, body = helpers.site_fetch(host, LOCAL_PATH, f"--tlsv{version} --tls-max {version}")
    assert status == 200 and "Active connections" in body


def test_a_client_without_the_ca_refuses_the_chain(host):
    """The check above means something: the same request, trusting one public CA only, fails.
    (--capath too: Debian's curl also reads /etc/ssl/certs, where role common put the CA.)"""
    result = host.run(
        f"untrusting=$(mktemp -d); curl -sS --cacert {PUBLIC_CA} --capath $untrusting "
        f"{helpers.site_target(host, LOCAL_PATH)}; code=$?; rmdir $untrusting; exit $code"
    )
    assert result.rc == 60, result.stderr  # curl: peer certificate cannot be authenticated


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_tls_1_0_and_1_1_are_refused_by_the_server(host, version):
    # SECLEVEL=0 lets this client offer the old versions, so the refusal is S1's.
    result = handshake(host, version, "-cipher DEFAULT:@SECLEVEL=0")
    assert result.rc != 0
    assert "alert protocol version" in result.stdout + result.stderr, result.stderr


def test_tls_1_2_negotiates_a_forward_secret_cipher(host):
    result = handshake(host, "-tls1_2")
    assert result.rc == 0, result.stderr
    assert "Verify return code: 0 (ok)" in result.stdout
    assert "Cipher is ECDHE-" in result.stdout


def test_http2_over_https(host):
    version = host.check_output(
        f"curl -sS -o /dev/null -w '%{{http_version}}' --http2 {helpers.site_target(host, LOCAL_PATH)}"
    )
    assert version == "2"


def test_hsts_over_https(host):
    max_age = helpers.runner().get_variables(host.backend.host).get("nginx_balancer_hsts_max_age")
    _status, headers, _body = helpers.site_fetch(host, LOCAL_PATH)
    assert f"strict-transport-security: max-age={max_age or HSTS_DEFAULT_MAX_AGE}\n" in headers + "\n"


def test_plain_http_is_sent_to_the_same_address_over_https(host):
    name = host.backend.host
    path = "/api/posts?before=5"
    status, headers, _body = helpers.fetch(host, path, f"-H 'Host: {name}'")
    assert status == 301 and f"location: https://{name}{path}\n" in headers + "\n"
