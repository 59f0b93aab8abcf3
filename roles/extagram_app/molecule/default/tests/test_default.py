"""Role extagram_app on the feed and upload nodes.

Runs in roles/extagram_app's scenario (s2 feed, s4 upload) and in tests/topology.
"""

import json
import shlex

from extagram_lab.inventory import shared_setting
from extagram_lab.lab_ca import ca_file
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("feed", "upload")
VENV = "/opt/extagram/venv"
CONFIG = "/etc/extagram/extagram.toml"
EXPORT = shared_setting("extagram_shared_export_dir")
PORT = shared_setting("extagram_shared_app_port")
METRICS_PORT = shared_setting("extagram_shared_app_metrics_port")
# The role's extagram_app_decode_worker_mb (defaults/main.yml).
DECODE_WORKER_MIB = 200


def mode(host):
    """The node's mode, from its inventory groups (no Ansible module run on the node)."""
    groups = helpers.runner().get_variables(host.backend.host)["group_names"]
    return "upload" if "upload" in groups else "feed"


def fetch(host, path, *options):
    """(status, lower-cased headers, body) of a request to Gunicorn on the node's private address."""
    return helpers.fetch(host, path, *options, address=helpers.address(host), port=PORT, max_time=20)


def test_system_user_with_fixed_ids(host):
    user = host.user("extagram")
    assert user.uid == shared_setting("extagram_shared_app_uid")
    assert user.gid == shared_setting("extagram_shared_app_gid")
    assert user.shell == "/usr/sbin/nologin"


def test_installed_from_the_wheelhouse_into_a_root_owned_venv(host):
    assert host.package("python3-venv").is_installed
    assert host.file(f"{VENV}/bin/gunicorn").user == "root"
    manifest = host.file("/opt/extagram/wheelhouse/MANIFEST").content_string.split()
    wheels = manifest[1::2]
    assert any(name.startswith("extagram-") for name in wheels)
    for name in wheels:
        assert host.file(f"/opt/extagram/wheelhouse/{name}").exists
    assert host.file(f"{VENV}/.wheelhouse-manifest").content_string.split() == manifest
    host.run_expect([0], f"{VENV}/bin/python -c 'import extagram, gunicorn, pymysql, PIL, prometheus_client'")


def test_config_is_private_and_matches_the_mode(host):
    conf = host.file(CONFIG)
    assert conf.user == "root" and conf.group == "extagram" and conf.mode == 0o640
    assert host.file("/etc/extagram").mode == 0o750
    settings = json.loads(
        host.check_output(
            f'python3 -c \'import json, tomllib; print(json.dumps(tomllib.load(open("{CONFIG}", "rb"))))\''
        )
    )
    database = helpers.address(helpers.hosts("database")[0])
    assert settings["mode"] == mode(host)
    assert settings["db_host"] == database
    assert settings["db_user"] == f"extagram_{mode(host)}"
    assert settings["db_password"]
    assert settings["db_fail_fast_seconds"] == 3
    assert settings["db_tls_ca"] == "/etc/extagram/db-ca.crt"
    if mode(host) == "upload":
        assert settings["uploads_dir"] == f"{EXPORT}/photos"
        assert settings["max_photo_storage_bytes"] == 2 * 1024**3
    else:
        assert "uploads_dir" not in settings and "max_photo_storage_bytes" not in settings


def test_service_is_hardened_and_running(host):
    service = host.service("extagram")
    assert service.is_enabled
    assert service.is_running
    props = dict(
        line.split("=", 1)
        for line in host.check_output(
            "systemctl show extagram -p User -p Restart -p NoNewPrivileges -p ProtectSystem "
            "-p ProtectHome -p PrivateTmp -p ReadWritePaths -p Type"
        ).splitlines()
    )
    assert props["User"] == "extagram"
    assert props["Restart"] == "on-failure"
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict"
    assert props["ProtectHome"] == "yes"
    assert props["PrivateTmp"] == "yes"
    assert props["Type"] == "notify"
    if mode(host) == "upload":
        assert props["ReadWritePaths"] == f"{EXPORT}/photos"
    else:
        assert props["ReadWritePaths"] == ""


def test_the_kernel_stops_a_runaway_worker_not_the_node_or_the_service(host):
    props = dict(
        line.split("=", 1)
        for line in host.check_output("systemctl show extagram -p MemoryMax -p OOMPolicy").splitlines()
    )
    node_bytes = int(host.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) * 1024
    assert props["MemoryMax"].isdigit() and int(props["MemoryMax"]) < 0.8 * node_bytes, props
    assert props["OOMPolicy"] == "continue"


def test_gunicorn_listens_on_the_private_address_only(host):
    assert host.socket(f"tcp://{helpers.address(host)}:{PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening
    # master + workers
    assert int(host.check_output("pgrep -u extagram -c -f 'bin/gunicorn'")) == expected_workers(host) + 1


def expected_workers(host):
    """2 x vCPUs + 1; on the upload node also at most one per DECODE_WORKER_MIB of MemoryMax."""
    by_cpu = int(host.check_output("nproc")) * 2 + 1
    if mode(host) == "feed":
        return by_cpu
    memory_max_mib = int(host.check_output("systemctl show extagram -p MemoryMax --value")) >> 20
    return min(by_cpu, max(1, memory_max_mib // DECODE_WORKER_MIB))


def test_firewall_lets_in_the_balancer_only(host):
    balancer = helpers.addresses_from(host, "extagram_app_balancer_addresses", "balancer")
    helpers.assert_port_open_only_to(host, PORT, balancer, "extagram_app")


def test_no_other_node_opens_the_app_port():
    helpers.assert_rule_only_on("extagram_app", testinfra_hosts)


def test_metrics_port_is_private_and_open_to_the_monitoring_node_only(host):
    helpers.assert_listens_on_private_address_only(host, METRICS_PORT)
    monitoring = helpers.addresses_from(host, "extagram_app_prometheus_addresses", "monitoring")
    helpers.assert_port_open_only_to(host, METRICS_PORT, monitoring, "extagram_app_metrics")
    helpers.assert_rule_only_on("extagram_app_metrics", testinfra_hosts)


def test_metrics_on_the_metrics_port_only_shared_by_the_workers(host):
    assert fetch(host, "/metrics")[0] == 404
    status, _, _ = helpers.fetch(host, "/healthz", address=helpers.address(host), port=METRICS_PORT)
    assert status == 404
    # The workers' files: in the unit's RuntimeDirectory, the app's alone.
    files = host.file("/run/extagram-metrics")
    assert (files.user, files.mode) == ("extagram", 0o700)
    assert host.check_output("ls /run/extagram-metrics").split()
    assert fetch(host, "/healthz")[0] == 200
    text = helpers.scrape(host, METRICS_PORT)
    assert 'extagram_http_requests_total{method="GET",route="health.healthz",status="200"}' in text
    if mode(host) == "upload":
        assert "\nextagram_photo_storage_limit_bytes 2.147483648e+09\n" in text
        assert "\nextagram_photo_storage_bytes " in text


def test_health_and_served_by(host):
    status, headers, body = fetch(host, "/healthz")
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"
    assert f"x-served-by: {host.check_output('hostname')}" in headers


def test_routes_follow_the_mode(host):
    if mode(host) == "feed":
        assert fetch(host, "/")[0] == 200
        assert fetch(host, "/api/posts")[0] == 200
        assert fetch(host, "/upload.php", "-F post=nope")[0] == 404
    else:
        assert fetch(host, "/")[0] == 404
        assert fetch(host, "/upload.php", "-F 'post=posted by testinfra'")[0] == 303


def test_upload_node_publishes_static_files(host):
    if mode(host) != "upload":
        assert not host.file(f"{EXPORT}/static").exists
        return
    package = host.check_output(
        f"{VENV}/bin/python -c 'import importlib.util, os; "
        'print(os.path.dirname(importlib.util.find_spec("extagram").origin))\''
    )
    for name in ("style.css", "extagram.js", "preview.svg"):
        published = host.file(f"{EXPORT}/static/{name}")
        assert published.user == "root" and published.mode == 0o644
        assert published.sha256sum == host.file(f"{package}/static/{name}").sha256sum
    photos = host.file(f"{EXPORT}/photos")
    assert photos.user == "extagram" and photos.mode == 0o755


# Connects as the node's own account from its config: over TLS verified against db_tls_ca, or plain.
DB_LINK_PROBE = """
import sys, tomllib, pymysql
settings = tomllib.load(open(sys.argv[2], "rb"))
verified = {"ssl_ca": settings["db_tls_ca"], "ssl_verify_identity": True}
security = verified if sys.argv[1] == "tls" else {"ssl_disabled": True}
try:
    link = pymysql.connect(host=settings["db_host"], port=settings["db_port"], user=settings["db_user"],
                           password=settings["db_password"], connect_timeout=10, **security)
except pymysql.err.OperationalError as error:
    sys.exit(f"refused {error.args[0]}")
with link.cursor() as cursor:
    cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
    print(cursor.fetchone()[1])
"""


def test_the_app_account_reaches_the_primary_over_verified_tls_only(host):
    ca = host.file("/etc/extagram/db-ca.crt")
    assert ca.user == "root" and ca.mode == 0o644
    assert ca.content_string == ca_file().read_text()
    probe = f"{VENV}/bin/python -c {shlex.quote(DB_LINK_PROBE)}"
    assert host.check_output(f"{probe} tls {CONFIG}") in ("TLSv1.2", "TLSv1.3")
    plain = host.run(f"{probe} plain {CONFIG}")
    assert plain.rc == 1 and plain.stderr.strip() == "refused 1045", plain.stderr
