"""The seccomp filter untrusted programs run under: Docker's default deny list, as classic BPF.

Docker applies its default seccomp profile to every container; bubblewrap applies none, so as
root a program could use the kernel keyring (shared by every process of a uid, across
sandboxes), create nested user namespaces, ptrace, and so on. This module assembles one filter
that both backends use: bubblewrap loads it for the whole sandbox (``bwrap --seccomp FD``,
inherited by the agent and every program), and under Docker the in-sandbox agent installs it on
every program it starts (``prctl(PR_SET_SECCOMP)`` after ``no_new_privs``), on top of Docker's
own profile. A program runs under the same rules on both backends.

The filter denies (``EPERM``) the system calls that Docker's default profile denies to a
container without extra capabilities (moby ``profiles/seccomp/default.json`` and its
"Significant syscalls blocked by the default profile" list): the keyring (``add_key``,
``keyctl``, ``request_key``), namespaces (``unshare``, ``setns``, and ``clone`` with any
``CLONE_NEW*`` flag), ``ptrace`` and cross-process memory access, mounts and the new mount API,
kernel modules, ``kexec``, ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring``, clock
and host settings, NUMA memory policy, handle-based file access, swap, quotas, accounting.
``clone3`` gets ``ENOSYS`` (its flags sit in memory a filter cannot read), so the C library
falls back to ``clone``, whose flags it can check; ``personality`` is allowed only for the
values Docker allows. A system call of another ABI (x32, or i386 on x86_64) kills the process.

It needs only the standard library (the agent imports it inside the sandbox). System call
numbers are tabled for x86_64 and aarch64 (checked against the kernel headers by the tests);
:func:`supported` says whether this machine has a table.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

#: Docker's default deny list (system calls present on at least one tabled architecture).
DENIED: tuple[str, ...] = (
    "acct",
    "add_key",
    "bpf",
    "chroot",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "fanotify_init",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "migrate_pages",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pidfd_getfd",
    "pivot_root",
    "process_madvise",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setdomainname",
    "sethostname",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "_sysctl",
    "sysfs",
    "syslog",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vhangup",
)

#: System call numbers per ``os.uname().machine`` (from ``asm/unistd_64.h`` and
#: ``asm-generic/unistd.h``); a name missing from an architecture does not exist there.
SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "acct": 163,
        "add_key": 248,
        "bpf": 321,
        "chroot": 161,
        "clock_adjtime": 305,
        "clock_settime": 227,
        "clone": 56,
        "clone3": 435,
        "create_module": 174,
        "delete_module": 176,
        "fanotify_init": 300,
        "finit_module": 313,
        "fsconfig": 431,
        "fsmount": 432,
        "fsopen": 430,
        "fspick": 433,
        "get_kernel_syms": 177,
        "get_mempolicy": 239,
        "init_module": 175,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "io_uring_setup": 425,
        "ioperm": 173,
        "iopl": 172,
        "kcmp": 312,
        "kexec_file_load": 320,
        "kexec_load": 246,
        "keyctl": 250,
        "lookup_dcookie": 212,
        "mbind": 237,
        "migrate_pages": 256,
        "mount": 165,
        "mount_setattr": 442,
        "move_mount": 429,
        "move_pages": 279,
        "name_to_handle_at": 303,
        "nfsservctl": 180,
        "open_by_handle_at": 304,
        "open_tree": 428,
        "perf_event_open": 298,
        "personality": 135,
        "pidfd_getfd": 438,
        "pivot_root": 155,
        "process_madvise": 440,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "ptrace": 101,
        "query_module": 178,
        "quotactl": 179,
        "quotactl_fd": 443,
        "reboot": 169,
        "request_key": 249,
        "set_mempolicy": 238,
        "setdomainname": 171,
        "sethostname": 170,
        "setns": 308,
        "settimeofday": 164,
        "swapoff": 168,
        "swapon": 167,
        "_sysctl": 156,
        "sysfs": 139,
        "syslog": 103,
        "umount2": 166,
        "unshare": 272,
        "uselib": 134,
        "userfaultfd": 323,
        "ustat": 136,
        "vhangup": 153,
    },
    "aarch64": {
        "acct": 89,
        "add_key": 217,
        "bpf": 280,
        "chroot": 51,
        "clock_adjtime": 266,
        "clock_settime": 112,
        "clone": 220,
        "clone3": 435,
        "delete_module": 106,
        "fanotify_init": 262,
        "finit_module": 273,
        "fsconfig": 431,
        "fsmount": 432,
        "fsopen": 430,
        "fspick": 433,
        "get_mempolicy": 236,
        "init_module": 105,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "io_uring_setup": 425,
        "kcmp": 272,
        "kexec_file_load": 294,
        "kexec_load": 104,
        "keyctl": 219,
        "lookup_dcookie": 18,
        "mbind": 235,
        "migrate_pages": 238,
        "mount": 40,
        "mount_setattr": 442,
        "move_mount": 429,
        "move_pages": 239,
        "name_to_handle_at": 264,
        "nfsservctl": 42,
        "open_by_handle_at": 265,
        "open_tree": 428,
        "perf_event_open": 241,
        "personality": 92,
        "pidfd_getfd": 438,
        "pivot_root": 41,
        "process_madvise": 440,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "ptrace": 117,
        "quotactl": 60,
        "quotactl_fd": 443,
        "reboot": 142,
        "request_key": 218,
        "set_mempolicy": 237,
        "setdomainname": 162,
        "sethostname": 161,
        "setns": 268,
        "settimeofday": 170,
        "swapoff": 225,
        "swapon": 224,
        "syslog": 116,
        "umount2": 39,
        "unshare": 97,
        "userfaultfd": 282,
        "vhangup": 58,
    },
}

#: ``AUDIT_ARCH_*`` of each tabled architecture (``seccomp_data.arch``).
AUDIT_ARCH: dict[str, int] = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
#: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (Docker's mask).
CLONE_NAMESPACE_FLAGS = 0x7E020000
#: ``personality`` values Docker allows (PER_LINUX, PER_LINUX32, UNAME26 variants, query).
PERSONALITY_ALLOWED: tuple[int, ...] = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

_X32_BIT = 0x40000000
_EPERM, _ENOSYS = 1, 38
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_LD_ABS_W = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ, _JGE, _JSET = 0x15, 0x35, 0x45  # BPF_JMP | BPF_JEQ / BPF_JGE / BPF_JSET, with BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_NR, _ARCH, _ARG0_LOW = 0, 4, 16  # offsets in struct seccomp_data (little endian)

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def supported(machine: str | None = None) -> bool:
    """Is there a system call table for ``machine`` (default: this one)?"""
    return (machine or os.uname().machine) in SYSCALLS


def _assemble(lines: list[tuple]) -> bytes:
    """``(label,)`` marks a position; ``(code, k, jt_label, jf_label)`` is an instruction
    whose jump targets are labels (or None: the next instruction)."""
    where: dict[str, int] = {}
    count = 0
    for line in lines:
        if len(line) == 1:
            where[line[0]] = count
        else:
            count += 1
    out, pc = [], 0
    for line in lines:
        if len(line) == 1:
            continue
        code, k, jt, jf = line
        offsets = []
        for label in (jt, jf):
            offset = 0 if label is None else where[label] - pc - 1
            if not 0 <= offset <= 255:
                raise ValueError(f"BPF jump to {label} out of range ({offset})")
            offsets.append(offset)
        out.append(struct.pack("=HBBI", code, offsets[0], offsets[1], k & 0xFFFFFFFF))
        pc += 1
    return b"".join(out)


def program(machine: str | None = None) -> bytes:
    """The filter as an array of ``struct sock_filter`` (what ``bwrap --seccomp`` reads).

    Raises ValueError for an architecture without a table.
    """
    machine = machine or os.uname().machine
    if machine not in SYSCALLS:
        raise ValueError(f"no system call table for {machine!r}; tabled: {', '.join(SYSCALLS)}")
    numbers = SYSCALLS[machine]
    lines: list[tuple] = [
        (_LD_ABS_W, _ARCH, None, None),
        (_JEQ, AUDIT_ARCH[machine], "native", None),
        (_RET, _RET_KILL_PROCESS, None, None),
        ("native",),
        (_LD_ABS_W, _NR, None, None),
    ]
    if machine == "x86_64":
        lines.append((_JGE, _X32_BIT, "kill", None))  # the x32 ABI shares AUDIT_ARCH_X86_64
    lines += [
        (_JEQ, numbers["clone"], "clone", None),
        (_JEQ, numbers["clone3"], "enosys", None),
        (_JEQ, numbers["personality"], "personality", None),
    ]
    lines += [(_JEQ, numbers[name], "eperm", None) for name in DENIED if name in numbers]
    lines += [
        (_RET, _RET_ALLOW, None, None),
        ("clone",),
        (_LD_ABS_W, _ARG0_LOW, None, None),
        (_JSET, CLONE_NAMESPACE_FLAGS, "eperm", None),
        (_RET, _RET_ALLOW, None, None),
        ("personality",),
        (_LD_ABS_W, _ARG0_LOW, None, None),
    ]
    lines += [(_JEQ, value, "allow", None) for value in PERSONALITY_ALLOWED]
    lines += [
        (_RET, _RET_ERRNO | _EPERM, None, None),
        ("allow",),
        (_RET, _RET_ALLOW, None, None),
        ("enosys",),
        (_RET, _RET_ERRNO | _ENOSYS, None, None),
        ("eperm",),
        (_RET, _RET_ERRNO | _EPERM, None, None),
        ("kill",),
        (_RET, _RET_KILL_PROCESS, None, None),
    ]
    return _assemble(lines)


def installer(filter_program: bytes) -> Callable[[], None]:
    """A function that sets ``no_new_privs`` and loads ``filter_program`` into the calling
    process (for a child between fork and exec); everything it needs is prepared here, in
    the parent. It raises OSError when the kernel refuses, so the child never runs unfiltered.
    """
    import ctypes

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(filter_program, len(filter_program))
    prog = SockFprog(len(filter_program) // 8, ctypes.addressof(buffer))
    ulong = ctypes.c_ulong

    def install() -> None:
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, ulong(1), ulong(0), ulong(0), ulong(0)) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if (
            libc.prctl(
                _PR_SET_SECCOMP, ulong(_SECCOMP_MODE_FILTER), ctypes.byref(prog), ulong(0), ulong(0)
            )
            != 0
        ):
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")

    install.keep_alive = (buffer, prog)  # type: ignore[attr-defined]
    return install
