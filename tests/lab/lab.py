#!/usr/bin/env python3
"""The Extagram lab: run the project's Vagrantfile on this machine.

Seven libvirt VMs (QEMU; KVM when it really works, TCG otherwise) inside a
network namespace of their own, from a Debian 12 box built here.
Every verb is idempotent and safe after a crash.

  lab.py up [--no-provision] [NODE...]   build box, start libvirt, vagrant up (+ site.yml)
  lab.py prepare                          build the wheels and the box, start libvirt (no VM)
  lab.py provision                        re-run site.yml through Vagrant
  lab.py status                           VMs, bridges, URL
  lab.py ssh NODE [COMMAND...]            shell or command on a node
  lab.py stop-service NODE UNIT | start-service NODE UNIT
  lab.py halt NODE                        hard power-off (pulled plug)
  lab.py start NODE                       power on and wait for SSH
  lab.py why NODE                         why a node does not answer: VM state, host memory, console
  lab.py destroy NODE...                  remove some VMs
  lab.py down                             remove every VM, daemon, socket and the namespace
  lab.py run COMMAND...                   run a command inside the lab namespace
  lab.py hosts [NODE...]                  the nodes' addresses and groups as JSON (no root needed)
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

try:
    from extagram_lab import accel, box, inventory, lab_ca, namespace
    from extagram_lab.common import REPO, log, run, succeeds
except ModuleNotFoundError as missing:  # a Python without `make venv`'s editable install
    sys.exit(f"lab: {missing}; run me with .venv/bin/python (`make venv` installs the lab)")

WHEELHOUSE = REPO / ".wheelhouse"
SSH_KEY = pathlib.Path.home() / ".vagrant.d" / "insecure_private_key"
CONSOLE_DIR = namespace.RUN_DIR / "console"
DOMAIN_PREFIX = "extagram-"
IMAGES_DIR = "/var/lib/libvirt/images"  # libvirt's default pool: the box's copy and every VM's disk
# Commands to a node share one SSH connection for a minute: a new connection (key exchange under
# TCG) took 0.9 to 1.1 s of each `lab.py ssh`, and a failover case makes a dozen (2026-12-07).
# A node that is halted, started or removed has its shared connection closed first (the VM behind
# it is gone); the keepalives end one that dies another way.
SSH_SHARE_DIR = namespace.RUN_DIR / "ssh"
# The VMs are recreated often and make new host keys on first boot: nothing to check or keep.
SSH_CONFIG = {
    "StrictHostKeyChecking": "no",
    "UserKnownHostsFile": "/dev/null",
    "LogLevel": "ERROR",
    "ConnectTimeout": "5",
    "ControlMaster": "auto",
    "ControlPath": f"{SSH_SHARE_DIR}/%C",
    "ControlPersist": "60",
    "ServerAliveInterval": "10",
    "ServerAliveCountMax": "3",
}
SSH_OPTIONS = ["-i", str(SSH_KEY), *(f"-o{key}={value}" for key, value in SSH_CONFIG.items())]


def lab_env():
    env = dict(os.environ)
    env.update(
        VAGRANT_DEFAULT_PROVIDER="libvirt",
        EXTAGRAM_BOX=box.BOX_NAME,
        EXTAGRAM_BOX_CMDLINE=box.KERNEL_CMDLINE,
        EXTAGRAM_LIBVIRT_DRIVER=accel.libvirt_driver(box.kernel_path()),
        EXTAGRAM_CONSOLE_DIR=str(CONSOLE_DIR),
        ANSIBLE_HOST_KEY_CHECKING="False",
        # The namespace has no route to PyPI: the role's wheelhouse build uses the wheels
        # prepare_host() fetched from the main namespace.
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(WHEELHOUSE),
        # pip's inverted switch: "0" turns build isolation OFF, so the venv's setuptools builds
        # the app instead of one pip would have to download.
        PIP_NO_BUILD_ISOLATION="0",
    )
    env.update(mitogen_env())
    venv_bin = str(pathlib.Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    return env


def mitogen_env():
    """Mitogen keeps one Python per node instead of one per task: ~6x faster under TCG."""
    try:
        import ansible_mitogen
    except ImportError:
        return {}
    plugins = pathlib.Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(plugins), "ANSIBLE_STRATEGY": "mitogen_linear"}


def in_lab(cmd, check=True):
    return run(namespace.ns_prefix() + list(cmd), check=check, cwd=REPO, env=lab_env())


def vagrant(*args, nodes=(), exit_on_failure=True):
    """Run vagrant in the namespace; on failure show the consoles of the nodes involved, then
    exit (or return False)."""
    cmd = [*namespace.ns_prefix(), "vagrant", *args, *nodes]
    log("$ " + " ".join(cmd))
    # stdin closed: Vagrant's Ansible provisioner refuses a non-blocking one.
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=lab_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:
        log(line.rstrip())
    if proc.wait() != 0:
        for node in nodes or inventory.hosts():
            console = console_path(node)
            if console.exists():
                tail = console.read_text(errors="replace").splitlines()[-25:]
                log(f"console of {node} (last lines):\n  " + "\n  ".join(tail))
        if exit_on_failure:
            sys.exit(f"lab: vagrant {args[0]} failed")
        return False
    return True


def virsh(*args, check=False):
    return subprocess.run(["virsh", "-q", *args], capture_output=True, text=True, check=check)


def remove_stale_domains(nodes):
    """Domains Vagrant no longer knows about (a crashed run) would block `vagrant up`."""
    defined = virsh("list", "--all", "--name").stdout.split()
    for node in nodes:
        domain = DOMAIN_PREFIX + node
        id_file = REPO / ".vagrant" / "machines" / node / "libvirt" / "id"
        uuid = virsh("domuuid", domain).stdout.strip()
        known = id_file.exists() and id_file.read_text().strip() == uuid
        if domain in defined and not known:
            log(f"removing stale domain {domain}")
            virsh("destroy", domain)
            virsh("undefine", domain, "--remove-all-storage")
        if not known:
            virsh("vol-delete", "--pool", "default", f"{domain}.img")


def prepare_host():
    if not namespace.inside():
        # Same build settings as inside the namespace, so both builds give the same wheel.
        run(
            [sys.executable, REPO / "tools/build_wheelhouse.py", REPO / "app", WHEELHOUSE],
            stdout=subprocess.DEVNULL,
            env=dict(os.environ, PIP_NO_BUILD_ISOLATION="0"),
        )
    namespace.up()
    CONSOLE_DIR.mkdir(parents=True, exist_ok=True)
    box.build()
    box.add_to_vagrant()


def cmd_up(args):
    nodes = args.nodes or list(inventory.hosts())
    prepare_host()
    remove_stale_domains(nodes)
    started = time.monotonic()
    if not vagrant("up", "--no-provision", nodes=nodes, exit_on_failure=False):
        # Vagrant removes a VM that did not come up and leaves the others running: once more for
        # it, now that the others have booted and left it the CPU.
        log("lab: vagrant up failed (above); once more for the VMs that are not up")
        vagrant("up", "--no-provision", nodes=nodes)
    log(f"{len(nodes)} VM(s) up in {time.monotonic() - started:.0f}s")
    if not args.no_provision:
        wait_for_logins(nodes)
        cmd_provision(args)
        print(f"Extagram is up: https://127.0.0.1:{namespace.HTTPS_PORT}/")
        print(f"Its certificate is signed by the lab's private CA: trust {lab_ca.ca_file()}")


LOGIN_ATTEMPTS = 30
LOGIN_RETRY_SECONDS = 10


def wait_for_logins(nodes):
    """Each node takes a login, has finished booting and has started Python once, one node at a
    time, before site.yml contacts all seven at once: `make up` on 2026-12-01 lost s6 to
    Mitogen's connection timeout at site.yml's first task although Vagrant had logged in to it.
    tests/molecule/create.yml waits the same way for Molecule's scenarios."""
    for node in nodes:
        for _attempt in range(LOGIN_ATTEMPTS):
            if succeeds(ssh_cmd(node, ["systemctl is-system-running --wait; python3 -c pass"])):
                break
            time.sleep(LOGIN_RETRY_SECONDS)
        else:
            sys.exit(f"lab: {node} takes no login")


def cmd_provision(_args):
    started = time.monotonic()
    # The Vagrantfile provisions all nodes from its last machine (the last name in order).
    vagrant("provision", list(inventory.hosts())[-1])
    log(f"site.yml done in {time.monotonic() - started:.0f}s")


def cmd_status(_args):
    vagrant("status")
    print(virsh("list", "--all").stdout)
    print(
        f"site: https://127.0.0.1:{namespace.HTTPS_PORT}/ (bridged into namespace {namespace.NAMESPACE});"
        f" CA: {lab_ca.ca_file()}"
    )


def ssh_cmd(node, command):
    SSH_SHARE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    return [*namespace.ns_prefix(), "ssh", *SSH_OPTIONS, f"vagrant@{inventory.address(node)}", *command]


def close_shared_connections(nodes):
    """End the shared SSH connection to nodes whose VM goes away (none open: nothing to do)."""
    for node in nodes:
        subprocess.run(ssh_cmd(node, ["-O", "exit"]), capture_output=True, check=False)


def cmd_ssh(args):
    cmd = ssh_cmd(args.node, args.command)
    os.execvp(cmd[0], cmd)


def cmd_service(args, action):
    run(ssh_cmd(args.node, ["sudo", "systemctl", action, args.unit]))


def cmd_halt(args):
    run(["virsh", "destroy", DOMAIN_PREFIX + args.node])
    close_shared_connections([args.node])


# A guest kernel's words for a boot that will not end: on 2026-12-06 s2's boot after a halt
# under load stopped in the initramfs ("task mount:131 blocked for more than 120 seconds", then
# 241, 362, 484 s), its disk image took no write and its vCPU sat idle; powered off and on again
# it booted in 40 s. The kernel prints this 120 s into such a hang.
HUNG_BOOT_SIGNS = ("blocked for more than", "Kernel panic")
START_TIMEOUT_S = 900


def console_path(node):
    """The guest's serial console, as the Vagrantfile has libvirt write it."""
    return CONSOLE_DIR / f"{node}.log"


def console_offset(node):
    console = console_path(node)
    return console.stat().st_size if console.exists() else 0


def hung_boot_line(node, offset):
    """The console line (written since `offset`) that says this boot hung, or None."""
    console = console_path(node)
    if not console.exists():
        return None
    with console.open("rb") as stream:
        stream.seek(min(offset, console.stat().st_size))
        text = stream.read().decode(errors="replace")
    return next((line.strip() for line in text.splitlines() if any(s in line for s in HUNG_BOOT_SIGNS)), None)


def power_on(domain):
    if "running" not in virsh("domstate", domain).stdout:
        run(["virsh", "start", domain])


def cmd_start(args):
    domain = DOMAIN_PREFIX + args.node
    offset = console_offset(args.node)
    close_shared_connections([args.node])
    power_on(domain)
    started = time.monotonic()
    retried = False
    while not succeeds(ssh_cmd(args.node, ["true"])):
        hung = None if retried else hung_boot_line(args.node, offset)
        if hung:
            # Once: a second hang in a row is a fault to see, not to hide.
            log(f"lab: {args.node}'s boot hung (console: {hung!r}); powering it off and on again")
            retried = True
            offset = console_offset(args.node)
            virsh("destroy", domain)
            power_on(domain)
        if time.monotonic() - started > START_TIMEOUT_S:
            sys.exit(f"lab: {args.node} has no SSH after {START_TIMEOUT_S}s")
        time.sleep(3)
    retry_note = " (one hung boot retried)" if retried else ""
    log(f"{args.node} answers SSH after {time.monotonic() - started:.0f}s{retry_note}")


def cmd_why(args):
    """What a node's VM, its guest and this host say, for a test that lost the node."""
    domain = DOMAIN_PREFIX + args.node
    print(f"VM {domain}: {virsh('domstate', '--reason', domain).stdout.strip() or 'not defined'}")
    meminfo = dict(line.split(":", 1) for line in pathlib.Path("/proc/meminfo").read_text().splitlines())
    # A full disk pauses every VM that writes (QEMU stops on ENOSPC): "paused (ioerror)" above.
    disk = shutil.disk_usage(IMAGES_DIR)
    print(
        f"host: MemAvailable {meminfo['MemAvailable'].strip()}, load {os.getloadavg()[0]:.1f},"
        f" {disk.free / 2**30:.1f} GiB free in {IMAGES_DIR}"
    )
    # libvirt's log of the VM's QEMU ends with why it stopped ("reason=crashed", a signal).
    qemu_log = pathlib.Path("/var/log/libvirt/qemu") / f"{domain}.log"
    if qemu_log.exists():
        print("qemu log:", *qemu_log.read_text(errors="replace").splitlines()[-2:], sep="\n  ")
    try:
        guest = subprocess.run(
            ssh_cmd(args.node, ["uptime; ip -br -4 addr; systemctl is-system-running"]),
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        print("guest over SSH:", guest.stdout.strip() or guest.stderr.strip()[-300:])
    except subprocess.TimeoutExpired:
        print("guest over SSH: no answer in 20 s")
    console = console_path(args.node)
    if console.exists():
        tail = [line for line in console.read_text(errors="replace").splitlines() if line.strip()][-8:]
        print("console:", *tail, sep="\n  ")


def cmd_destroy(args):
    if namespace.exists():
        # Stale domains first: vagrant-libvirt refuses to destroy a machine whose name is taken.
        remove_stale_domains(args.nodes)
        vagrant("destroy", "-f", nodes=args.nodes)
        close_shared_connections(args.nodes)


def cmd_down(_args):
    if namespace.exists() and succeeds(["pgrep", "-x", "libvirtd"]):
        remove_stale_domains(list(inventory.hosts()))
        vagrant("destroy", "-f")
        close_shared_connections(list(inventory.hosts()))
        # With no VM left, the pool's copies of the box are only disk space.
        for volume in virsh("vol-list", "--pool", "default", "--name").stdout.split():
            if volume.startswith(box.BOX_FILE_NAME):
                virsh("vol-delete", "--pool", "default", volume)
    namespace.down()


def cmd_prepare(_args):
    prepare_host()


def cmd_run(args):
    prepare_host()
    sys.exit(in_lab(args.command, check=False).returncode)


def cmd_hosts(args):
    """Each node's address and groups, for Molecule's create playbook and other tools."""
    known = inventory.hosts()
    unknown = sorted(set(args.nodes) - set(known))
    if unknown:
        sys.exit(f"lab: not nodes of {inventory.inventory_path()}: {', '.join(unknown)}")
    print(
        json.dumps(
            {
                name: {"address": known[name].address, "groups": list(known[name].groups)}
                for name in args.nodes or known
            },
            indent=2,
        )
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.set_defaults(needs_root=True)
    verbs = parser.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("up")
    up.add_argument("--no-provision", action="store_true")
    up.add_argument("nodes", nargs="*")
    up.set_defaults(func=cmd_up)
    verbs.add_parser("prepare").set_defaults(func=cmd_prepare)
    verbs.add_parser("provision").set_defaults(func=cmd_provision)
    verbs.add_parser("status").set_defaults(func=cmd_status)
    ssh = verbs.add_parser("ssh")
    ssh.add_argument("node")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    ssh.set_defaults(func=cmd_ssh)
    for verb, action in (("stop-service", "stop"), ("start-service", "start")):
        service = verbs.add_parser(verb)
        service.add_argument("node")
        service.add_argument("unit")
        service.set_defaults(func=lambda args, action=action: cmd_service(args, action))
    for verb, func in (("halt", cmd_halt), ("start", cmd_start), ("why", cmd_why)):
        single = verbs.add_parser(verb)
        single.add_argument("node")
        single.set_defaults(func=func)
    destroy = verbs.add_parser("destroy")
    destroy.add_argument("nodes", nargs="+")
    destroy.set_defaults(func=cmd_destroy)
    verbs.add_parser("down").set_defaults(func=cmd_down)
    run_parser = verbs.add_parser("run")
    run_parser.add_argument("command", nargs=argparse.REMAINDER)
    run_parser.set_defaults(func=cmd_run)
    hosts = verbs.add_parser("hosts")
    hosts.add_argument("nodes", nargs="*")
    hosts.set_defaults(func=cmd_hosts, needs_root=False)  # reads the inventory only
    args = parser.parse_args()
    if args.needs_root and os.geteuid() != 0:
        sys.exit("lab: needs root (network namespace, libvirt)")
    args.func(args)


if __name__ == "__main__":
    main()
