"""Use KVM only when a real guest kernel boots under it; TCG otherwise.

/dev/kvm can exist and still refuse normal guests (here: PVM-only KVM makes
QEMU abort with 'failed to set MSR'), so the test boots the box's kernel.
"""

import os
import subprocess

from extagram_lab.common import log
from extagram_lab.namespace import RUN_DIR

RESULT = RUN_DIR / "accel"


def _kvm_boots(kernel):
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    # No root filesystem: the kernel panics at once, and panic=-1 + -no-reboot make QEMU exit.
    qemu = "qemu-system-x86_64 -accel kvm -cpu host -m 256 -nodefaults -display none -serial stdio"
    cmd = [*qemu.split(), "-no-reboot", "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return False
    return "Kernel panic" in out.stdout and "failed to set MSR" not in out.stderr


def libvirt_driver(kernel):
    """'kvm' or 'qemu', decided once per lab run."""
    if not RESULT.exists():
        driver = "kvm" if _kvm_boots(kernel) else "qemu"
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        RESULT.write_text(driver)
        reason = "KVM works" if driver == "kvm" else "TCG: KVM refused a real guest"
        log(f"libvirt driver: {driver} ({reason})")
    return RESULT.read_text().strip()
