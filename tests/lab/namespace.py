"""The lab's network namespace and the daemons that live in it.

libvirtd runs inside the namespace, so its bridges (vagrant-libvirt's
management network and the private network of inventory/vagrant/hosts.yml)
and dnsmasq never appear in the machine's main namespace. Unix-socket
bridges cross the boundary: guests reach the apt proxy, and 127.0.0.1:8443 on
the machine reaches the balancer's HTTPS port (its port 80 only redirects there).
"""

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

from extagram_lab import inventory
from extagram_lab.common import CACHE_DIR, log, output, run

NAMESPACE = "extagram-lab"
RUN_DIR = pathlib.Path("/run/extagram-lab")
APT_SOCKET = RUN_DIR / "apt-proxy.sock"
HTTPS_SOCKET = RUN_DIR / "s1-https.sock"
HTTPS_PORT = int(os.environ.get("EXTAGRAM_LAB_HTTPS_PORT", "8443"))
APT_PROXY_PORT = 3142  # apt-cacher-ng's usual port, inside the namespace only
QEMU_CONF = pathlib.Path("/etc/libvirt/qemu.conf")
QEMU_SETTINGS = {  # what libvirt's qemu driver needs without systemd or cgroups
    "user": '"root"',
    "group": '"root"',
    "dynamic_ownership": "0",
    "security_driver": '"none"',
    "cgroup_controllers": "[ ]",
}


def ns_prefix():
    return [] if inside() else ["ip", "netns", "exec", NAMESPACE]


def inside():
    """True when this process already runs in the lab namespace."""
    return NAMESPACE in output(["ip", "netns", "identify", str(os.getpid())]).split()


def exists():
    return NAMESPACE in output(["ip", "netns", "list"]).split()


def _process_start(pid):
    """When a process started, in seconds since the epoch."""
    ticks = int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot = next(
        int(line.split()[1])
        for line in pathlib.Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime")
    )
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _pid_alive(pidfile):
    """The helper's pid while it runs; a pid file an earlier run left behind may name another process."""
    try:
        pid = int(pidfile.read_text())
        started = _process_start(pid)
        written = pidfile.stat().st_mtime
    except (OSError, ValueError):
        return None
    return pid if started <= written + 2 else None


def _spawn(name, cmd, in_namespace):
    """Start a background helper once; a pid file makes re-runs idempotent."""
    pidfile = RUN_DIR / f"{name}.pid"
    if _pid_alive(pidfile):
        return
    prefix = ns_prefix() if in_namespace else []
    # The helper keeps its own copy of the log's file descriptor; ours closes after the start.
    with (RUN_DIR / f"{name}.log").open("ab") as logfile:
        proc = subprocess.Popen(
            [*prefix, *(str(part) for part in cmd)],
            stdout=logfile,
            stderr=logfile,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pidfile.write_text(str(proc.pid))
    log(f"started {name} (pid {proc.pid})")


def _stop(name):
    pidfile = RUN_DIR / f"{name}.pid"
    pid = _pid_alive(pidfile)
    if pid:
        os.killpg(pid, signal.SIGTERM)
    pidfile.unlink(missing_ok=True)


def _configure_qemu():
    text = QEMU_CONF.read_text()
    lines = [line for line in text.splitlines() if line.split("=")[0].strip() not in QEMU_SETTINGS]
    lines += [f"{key} = {value}" for key, value in QEMU_SETTINGS.items()]
    new = "\n".join(lines) + "\n"
    if new != text:
        QEMU_CONF.write_text(new)
        return True
    return False


def _daemon_running(name):
    """pid of a running daemon and whether it lives in the lab namespace."""
    for pid in output(["pgrep", "-x", name]).split():
        return int(pid), NAMESPACE in output(["ip", "netns", "identify", pid]).split()
    return None, False


def _ensure_daemon(name, args, restart):
    pid, ours = _daemon_running(name)
    if pid and (not ours or restart):
        log(f"restarting {name} (pid {pid}) inside the lab namespace")
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if _daemon_running(name)[0] is None:
                break
            time.sleep(0.2)
        pid = None
    if pid is None:
        run([*ns_prefix(), name, *args])


def _wait_for_listener(path, seconds=30):
    """Wait until a daemon accepts on its unix socket (a file left by an earlier run does not)."""
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(path))
                return
            except OSError:
                pass
        if time.monotonic() > deadline:
            sys.exit(f"lab: nothing answers on {path}")
        time.sleep(0.2)


def up():
    """Namespace, libvirt, apt proxy and the S1 port; safe to repeat."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    if not exists():
        run(["ip", "netns", "add", NAMESPACE])
    run(["ip", "-n", NAMESPACE, "link", "set", "lo", "up"])
    changed = _configure_qemu()
    _ensure_daemon("virtlogd", ["-d"], restart=False)
    _ensure_daemon("libvirtd", ["-d"], restart=changed)
    _wait_for_listener(pathlib.Path("/run/libvirt/libvirt-sock"))
    _spawn(
        "apt-proxy",
        [sys.executable, "-m", "extagram_lab.apt_proxy", APT_SOCKET, CACHE_DIR / "apt"],
        in_namespace=False,
    )
    _spawn(
        "apt-bridge",
        ["socat", f"TCP-LISTEN:{APT_PROXY_PORT},fork,reuseaddr", f"UNIX-CONNECT:{APT_SOCKET}"],
        in_namespace=True,
    )
    _spawn(
        "s1-bridge",
        [
            "socat",
            f"UNIX-LISTEN:{HTTPS_SOCKET},fork,unlink-early",
            f"TCP:{inventory.balancer().address}:443,connect-timeout=5",
        ],
        in_namespace=True,
    )
    _spawn(
        "s1-port",
        ["socat", f"TCP-LISTEN:{HTTPS_PORT},bind=127.0.0.1,fork,reuseaddr", f"UNIX-CONNECT:{HTTPS_SOCKET}"],
        in_namespace=False,
    )


def down():
    for name in ("s1-port", "s1-bridge", "apt-bridge", "apt-proxy"):
        _stop(name)
    for daemon in ("libvirtd", "virtlogd"):
        pid, ours = _daemon_running(daemon)
        if pid and ours:
            os.kill(pid, signal.SIGTERM)
    if exists():
        run(["ip", "netns", "delete", NAMESPACE])
    for path in (APT_SOCKET, HTTPS_SOCKET):
        path.unlink(missing_ok=True)
