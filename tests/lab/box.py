"""Build the lab's Debian 12 Vagrant box for the libvirt provider.

The box boots its own kernel directly (no bootloader) and already carries
the Debian packages the roles install, so TCG guests do not spend minutes
in dpkg. The roles still declare every package: on a stock
debian/bookworm64 box they install them through apt as usual.
"""

import hashlib
import ipaddress
import json
import os
import pathlib
import shutil
import tarfile

from extagram_lab.common import CACHE_DIR, log, run
from extagram_lab.inventory import lab_setting
from extagram_lab.namespace import APT_PROXY_PORT

BOX_NAME = "extagram/bookworm-lab"
# How Vagrant spells the box name in file names: its box directory and libvirt's pool volumes.
BOX_FILE_NAME = BOX_NAME.replace("/", "-VAGRANTSLASH-")
MIRROR = "http://deb.debian.org/debian"
# Where guests find the lab's apt proxy: the namespace's end of vagrant-libvirt's default
# management network, which every VM has.
GUEST_APT_PROXY = (
    f"http://{next(ipaddress.ip_network(lab_setting('vagrant_management_network')).hosts())}:{APT_PROXY_PORT}"
)

BASE_PACKAGES = [
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "sudo",
    "python3",
    "python3-apt",
    "linux-image-amd64",
    "initramfs-tools",
    "iproute2",
    "ca-certificates",
    "curl",
    "procps",
    "less",
]
# What the roles install, preinstalled here so provisioning under TCG stays in minutes.
ROLE_PACKAGES = [
    "nginx",
    "mariadb-server",
    "mariadb-client",
    "python3-pymysql",
    "nfs-kernel-server",
    "nfs-common",
    "python3-venv",
    "nftables",
    "chrony",
    "unattended-upgrades",
    "rsync",
    # Monitoring (docs/monitoring.md): the exporters on their nodes, Prometheus and Alertmanager on
    # the monitoring node, mtail on S1; dbus for the node exporter's systemd collector (minbase has none).
    "prometheus-node-exporter",
    "dbus",
    "prometheus-nginx-exporter",
    "prometheus-mysqld-exporter",
    "prometheus",
    "prometheus-alertmanager",
    "mtail",
]
# Preinstalled, but a node only runs them once its role enables them. The apt timers are off as
# the lab inventory sets them (common_unattended_upgrades_enabled: false): role common's task that
# turns them off took 50 s of site.yml when the box had them on (2026-12-07; two systemd reloads
# on each of seven TCG nodes), and 0.5 s when the box agrees with the inventory.
DISABLED_UNITS = [
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "nginx.service",
    "mariadb.service",
    "nfs-server.service",
    # The packages enable these at install: a node runs one only once its role has configured it
    # (each would otherwise listen on every address at the first boot).
    "prometheus.service",
    "prometheus-alertmanager.service",
    "prometheus-node-exporter.service",
    "prometheus-nginx-exporter.service",
    "prometheus-mysqld-exporter.service",
    "mtail.service",
    # Nobody needs these at a lab boot, and under TCG they cost it (systemd-analyze blame on s6,
    # seven VMs booting, 2026-12-06): e2scrub_reap 70 s (the lab has no LVM snapshot to reap),
    # nfs-blkmap 4.6 s (pNFS block layouts, which the lab's NFS export does not use).
    "e2scrub_reap.service",
    "nfs-blkmap.service",
]
# The state the roles leave these in, on every node of the lab, so that their tasks find it and
# report `ok` (a stock Debian gets it from the roles): on 2026-12-07 a fresh converge spent 19 s
# enabling nftables (Debian's default ruleset accepts everything until role common writes its
# own) and 19 s masking NFSv3's rpcbind and rpc-statd on the NFS nodes (the export is NFSv4).
ENABLED_UNITS = ["systemd-networkd", "ssh-host-keys.service", "nftables.service"]
MASKED_UNITS = ["rpcbind.socket", "rpcbind.service", "rpc-statd.service"]
VAGRANT_PUBKEY = pathlib.Path("/usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant.pub")

GUEST_FILES = {
    # Catch-all DHCP sorts after Vagrant's 50-vagrant-*.network, or the private IP is never applied.
    "etc/systemd/network/99-dhcp.network": (
        "[Match]\nName=e*\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nClientIdentifier=mac\n"
    ),
    # Seven TCG guests booting at once on two cores: a unit may need minutes to start. Two fresh-box
    # runs (2026-12-01) printed "Failed to start systemd-networkd.service" on every console, and
    # in each one guest never got its DHCP address (vagrant up failed after 16 min): no start
    # timeout, and networkd started again until it runs.
    "etc/systemd/system.conf.d/lab-slow-boot.conf": "[Manager]\nDefaultTimeoutStartSec=10min\n",
    "etc/systemd/system/systemd-networkd.service.d/lab-slow-boot.conf": (
        "[Unit]\nStartLimitIntervalSec=0\n\n[Service]\nTimeoutStartSec=infinity\nRestart=always\nRestartSec=2\n"
    ),
    "etc/apt/apt.conf.d/01lab-proxy": f'Acquire::http::Proxy "{GUEST_APT_PROXY}";\n',
    "etc/apt/sources.list": (
        f"deb {MIRROR} bookworm main\ndeb {MIRROR} bookworm-updates main\n"
        "deb http://deb.debian.org/debian-security bookworm-security main\n"
    ),
    "etc/fstab": "/dev/vda / ext4 defaults,noatime 0 1\n",
    "etc/hostname": "bookworm-lab\n",
    # sudo looks its own host name up; with no DNS in the lab that lookup would stall every become.
    "etc/hosts": "127.0.0.1 localhost\n127.0.1.1 bookworm-lab\n",
    "etc/sudoers.d/vagrant": "vagrant ALL=(ALL) NOPASSWD: ALL\n",
    # Every VM is a copy of one image: a host key is made on first boot, not shared. Ed25519 only:
    # `ssh-keygen -A` also made RSA and ECDSA keys, and took 63 s of a TCG boot (s6, seven VMs
    # booting, 2026-12-06) while ssh.service waited for it.
    "etc/systemd/system/ssh-host-keys.service": (
        "[Unit]\nDescription=Generate the SSH host key on first boot\nBefore=ssh.service\n"
        "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n\n"
        "[Service]\nType=oneshot\n"
        "ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    ),
    "etc/ssh/sshd_config.d/lab-host-key.conf": "HostKey /etc/ssh/ssh_host_ed25519_key\n",
}

# The project's Vagrantfile appends each node's private address to it (lab.py passes it on).
KERNEL_CMDLINE = "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet"
BOX_VAGRANTFILE = f"""\
# Direct kernel boot: the lab image has no bootloader.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = File.join(__dir__, "vmlinuz")
    libvirt.initrd = File.join(__dir__, "initrd.img")
    libvirt.cmd_line = "{KERNEL_CMDLINE}"
  end
end
"""


# Bump when a build step changes in a way the data below does not show.
RECIPE_VERSION = 3


def recipe_id():
    """Changes whenever the recipe does, so a stale cached box is rebuilt."""
    recipe = [
        RECIPE_VERSION,
        MIRROR,
        GUEST_APT_PROXY,
        BASE_PACKAGES,
        ROLE_PACKAGES,
        DISABLED_UNITS,
        ENABLED_UNITS,
        MASKED_UNITS,
        GUEST_FILES,
        BOX_VAGRANTFILE,
    ]
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def box_path():
    return CACHE_DIR / f"box-{recipe_id()}" / "extagram-lab.box"


def kernel_path():
    return box_path().parent / "vmlinuz"


def _chroot(rootfs, *cmd):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    run(["chroot", str(rootfs), *cmd], env=env)


def _install_role_packages(rootfs):
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")  # never start daemons inside the chroot
    policy.chmod(0o755)
    for fs, target in (("proc", "proc"), ("sysfs", "sys")):
        run(["mount", "-t", fs, fs, str(rootfs / target)])
    try:
        _chroot(rootfs, "apt-get", "update", "-q")
        _chroot(rootfs, "apt-get", "install", "-y", "-q", "--no-install-recommends", *ROLE_PACKAGES)
        _chroot(rootfs, "apt-get", "clean")
        # `clean` drops apt's binary cache, and the first apt task of site.yml on each node then
        # rebuilt it (39 MB, under TCG): build it here once instead.
        _chroot(rootfs, "apt-cache", "gencaches")
    finally:
        for target in ("sys", "proc"):
            run(["umount", "-l", str(rootfs / target)])
        policy.unlink()


def _configure(rootfs):
    for rel, text in GUEST_FILES.items():
        path = rootfs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (rootfs / "etc/sudoers.d/vagrant").chmod(0o440)
    (rootfs / "etc/apt/sources.list.d/debian.sources").unlink(missing_ok=True)
    _chroot(rootfs, "useradd", "--create-home", "--shell", "/bin/bash", "vagrant")
    ssh_dir = rootfs / "home/vagrant/.ssh"
    ssh_dir.mkdir(mode=0o700)
    shutil.copy(VAGRANT_PUBKEY, ssh_dir / "authorized_keys")
    _chroot(rootfs, "chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh")
    # The testinfra tests log in as root with the same key: sudo took 0.15 to 0.25 s of every test
    # command under TCG (its own start, PAM), against 0.09 s for the whole SSH round trip without it.
    root_ssh_dir = rootfs / "root/.ssh"
    root_ssh_dir.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(VAGRANT_PUBKEY, root_ssh_dir / "authorized_keys")
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    _chroot(rootfs, "systemctl", "enable", *ENABLED_UNITS)
    _chroot(rootfs, "systemctl", "disable", *DISABLED_UNITS, *MASKED_UNITS)
    _chroot(rootfs, "systemctl", "mask", *MASKED_UNITS)
    # Empty machine-id: each VM makes its own, so DHCP client ids differ.
    (rootfs / "etc/machine-id").write_text("")
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)


def _pack(rootfs, out_dir, target):
    boot = rootfs / "boot"
    shutil.copy(sorted(boot.glob("vmlinuz-*"))[-1], out_dir / "vmlinuz")
    shutil.copy(sorted(boot.glob("initrd.img-*"))[-1], out_dir / "initrd.img")
    raw = out_dir / "root.raw"
    size_gb = 6
    run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(rootfs), str(raw), f"{size_gb}G"])
    run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(out_dir / "box.img")])
    raw.unlink()
    (out_dir / "metadata.json").write_text(
        json.dumps({"provider": "libvirt", "format": "qcow2", "virtual_size": size_gb})
    )
    (out_dir / "Vagrantfile").write_text(BOX_VAGRANTFILE)
    box = out_dir / "extagram-lab.box.partial"
    with tarfile.open(box, "w") as tar:
        for name in ("metadata.json", "Vagrantfile", "box.img", "vmlinuz", "initrd.img"):
            tar.add(out_dir / name, arcname=name)
    (out_dir / "box.img").unlink()
    box.rename(target)


def build():
    """Build the box unless this recipe's box is already cached; return its path."""
    if box_path().exists():
        log(f"box {box_path().parent.name} is cached")
        return box_path()
    out_dir = box_path().parent
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    rootfs = out_dir / "rootfs"
    log("building the Debian 12 box (debootstrap, once per recipe)")
    run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=" + ",".join(BASE_PACKAGES),
            "bookworm",
            str(rootfs),
            MIRROR,
        ]
    )
    _install_role_packages(rootfs)
    _configure(rootfs)
    _pack(rootfs, out_dir, box_path())
    shutil.rmtree(rootfs)
    log(f"box ready: {box_path()}")
    return box_path()


def add_to_vagrant():
    """Register the cached box with Vagrant unless this very build is already there.

    vagrant-libvirt copies each box build into libvirt's pool under a new
    name, so VMs made from an older build keep their backing image.
    """
    marker = pathlib.Path.home() / ".vagrant.d" / "boxes" / BOX_FILE_NAME
    stamp = marker / f".extagram-{recipe_id()}"
    if stamp.exists():
        return
    run(["vagrant", "box", "add", "--force", "--name", BOX_NAME, str(box_path())])
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()
