"""Uploads through S1 on the lab: a cross-site post refused, a burst of worst-case photos answered.

The limits themselves (429 per address and in all) are checked on S1 by the nginx_balancer role's
tests; here the whole path down to the upload node and the database is at work.
"""

import shlex
import subprocess
import uuid

import pytest
from PIL import Image

from extagram import photos
from extagram_lab import lab_ca
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("balancer")
# Bursts of uploads through S1: alone, after the parallel tests (pyproject.toml's `serial`).
pytestmark = pytest.mark.serial
BURST_SIZE = 20
UNIT_STATE = "systemctl show extagram -p MainPID -p NRestarts -p ActiveState"
UNIT_CGROUP = "/sys/fs/cgroup/system.slice/extagram.service"
UNIT_OOM_KILLS = f"awk '$1 == \"oom_kill\" {{print $2}}' {UNIT_CGROUP}/memory.events"


def posts_with(text):
    database = helpers.node(helpers.running("database")[0])
    query = f"SELECT COUNT(*) FROM extagram.posts WHERE post = {shlex.quote(text)}"
    return int(database.check_output(f"mysql -N -B -e {shlex.quote(query)}"))


def test_a_post_from_another_site_is_refused_and_stores_nothing(host):
    text = f"cross-site {uuid.uuid4().hex}"
    status, headers, body = helpers.site_fetch(
        host,
        "/upload.php",
        "-H 'Origin: https://evil.example'",
        "-H 'Sec-Fetch-Site: cross-site'",
        f"-F {shlex.quote('post=' + text)}",
        via=helpers.address(host),
    )
    assert status == 403 and "text/html" in headers and "another web site" in body
    assert posts_with(text) == 0


def worst_case_photo(path):
    """A PNG with as many RGBA pixels as the app accepts: the most memory one decode may take.
    Flat colour, so the file is small while the decoded image is full size."""
    Image.new("RGBA", photos.MAX_PIXEL_SIZE, (200, 80, 40, 128)).save(path)


def test_a_burst_of_worst_case_photos_is_answered_and_the_upload_node_stays_up(tmp_path):
    """Sent from the controller, which the lab exempts from S1's limits, so every photo reaches
    the upload node at once: each worker decodes one photo at a time, and they fit MemoryMax."""
    upload = helpers.node(helpers.running("upload")[0])
    before = upload.check_output(UNIT_STATE)
    oom_kills_before = upload.check_output(UNIT_OOM_KILLS)
    photo = tmp_path / "worst.png"
    worst_case_photo(photo)
    text = f"burst {uuid.uuid4().hex}"
    url = f"https://{helpers.address(helpers.running('balancer')[0])}/upload.php"
    # One curl per upload: curl's own parallel mode (-Z) sent the form with one transfer only.
    senders = [
        subprocess.Popen(
            [
                *("curl", "-s", "--max-time", "120", "-o", "/dev/null", "-w", "%{http_code}"),
                *("--cacert", str(lab_ca.ca_file())),
                *("-F", f"post={text}", "-F", f"photo=@{photo};type=image/png", url),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(BURST_SIZE)
    ]
    codes = [sender.communicate(timeout=180)[0] for sender in senders]
    # Accepted, or S1's friendly "uploads unavailable" page when the node could not keep up.
    assert len(codes) == BURST_SIZE and set(codes) <= {"303", "503"}, codes
    # Every accepted post is stored. A 503 is S1 giving up after its upload read timeout, and the
    # node may still store that post: so stored posts can outnumber the 303s, never the reverse.
    assert 0 < codes.count("303") <= posts_with(text)
    assert upload.check_output(UNIT_STATE) == before  # same main PID, no restart, still active
    # The node's workers fit under MemoryMax with one worst-case decode each: the kernel had no
    # worker to stop (three workers on the lab's 512 MiB node did not fit: docs/security.md).
    assert upload.check_output(UNIT_OOM_KILLS) == oom_kills_before
