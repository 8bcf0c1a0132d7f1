"""Per-program isolation inside a warm batch, and the kernel surface a program may use.

Each attack of ``batch_attacks.py`` runs in one batch with an honest canary right after it
(same language and memory limit: the same sandbox). The attacker must have done its part
(a positive control printed by the attacker: the tree was built, the 420 MiB segment
attached, the files written in its own dir) and the canary must give what it gives alone.
Then the probes a seccomp filter must stop (keyring, nested user namespaces, ptrace,
io_uring), with the same probes run on the host as their positive control, and the CPU quota
against a forking burner. Assertions use CPU time and generous margins, so they hold on a
busy machine.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import pytest

from sandboxes import LANGUAGES, Program, RunStatus, open_sandbox

from .batch_attacks import ATTACKS, ATTACKS_DIR, STDIN, Attack, run_alone, run_attack
from .conftest import BACKENDS, get_sandbox, leftover_pids

#: What the attacker prints when the isolation refused it outright (rather than cleaning up).
REFUSED: dict[str, str] = {
    "sabotage_dirs": "created 0 locked 0",
    "lock_compiled": "created 0 locked 0",
    "file_hog": "cannot write in /work PermissionError",
    "plant_node": "work EACCES",
    "read_batch": "leaked []",
}
PROBE = (ATTACKS_DIR / "kernel_probes.py").read_text()
BURNER = (ATTACKS_DIR / "cpu_burner.py").read_text()


def _probes(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


@functools.cache
def _attack(backend: str, name: str):
    attack = next(a for a in ATTACKS if a.name == name)
    return run_attack(get_sandbox(backend), attack)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_attack_does_not_reach_the_next_program(backend: str, attack: Attack) -> None:
    attacker, canary = _attack(backend, attack.name)
    assert attacker.status is RunStatus.OK, attacker
    assert attack.done in attacker.stdout, attacker  # the attack itself happened
    if attack.name in REFUSED:
        assert REFUSED[attack.name] in attacker.stdout, attacker
    assert canary.status is RunStatus.OK, canary
    assert canary.stdout.strip() == attack.canary_stdout, canary
    assert leftover_pids(get_sandbox(backend).token) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_canaries_alone_give_the_expected_output(backend: str) -> None:
    """The canaries' expected outputs above are what they print in a sandbox of their own."""
    sandbox = get_sandbox(backend)
    seen: dict[tuple[str, str], str] = {}
    for attack in ATTACKS:
        key = (attack.language, attack.canary)
        if key not in seen:
            alone = run_alone(sandbox, attack)
            assert alone.status is RunStatus.OK, alone
            seen[key] = alone.stdout.strip()
        assert seen[key] == attack.canary_stdout, (attack.name, seen[key])


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_python_attack_in_one_batch(backend: str) -> None:
    """The production path: all Python attacks and their canaries interleaved in one batch."""
    attacks = [attack for attack in ATTACKS if attack.language == "python"]
    programs = []
    for attack in attacks:
        attacker, canary = attack.sources()
        programs += [
            Program("python", attacker, stdin=STDIN),
            Program("python", canary, stdin=STDIN),
        ]
    results = get_sandbox(backend).run_batch(programs)
    for i, attack in enumerate(attacks):
        attacker, canary = results[2 * i], results[2 * i + 1]
        assert attacker.status is RunStatus.OK and attack.done in attacker.stdout, (
            attack.name,
            attacker,
        )
        assert canary.status is RunStatus.OK, (attack.name, canary)
        assert canary.stdout.strip() == attack.canary_stdout, (attack.name, canary)


def _backend_module(sandbox):
    import sandboxes.bwrap_backend
    import sandboxes.docker_backend

    return sandboxes.docker_backend if sandbox.name == "docker" else sandboxes.bwrap_backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_left_behind_moves_the_rest_to_a_fresh_sandbox(backend: str, monkeypatch) -> None:
    """Fault injection: the agent is told not to empty /dev/shm, so 60 MiB stay charged after
    the first program; the agent must see the charge above its baseline and retire, and the
    next program must run in a fresh sandbox (two sandboxes, canary clean)."""
    sandbox = get_sandbox(backend)
    module = _backend_module(sandbox)
    real_spec = module.batch_spec
    monkeypatch.setattr(
        module,
        "batch_spec",
        lambda *args, **kwargs: {**real_spec(*args, **kwargs), "wipe": ["/tmp", "/dev/mqueue"]},
    )
    groups = []
    real_run_group = sandbox._run_group

    def counting(jobs):
        groups.append(len(jobs))
        return real_run_group(jobs)

    monkeypatch.setattr(sandbox, "_run_group", counting)
    hog = (
        "with open('/dev/shm/hog', 'wb') as fh:\n    fh.write(b'x' * (60 << 20))\n"
        "print('left 60 MiB')\n"
    )
    canary = (ATTACKS_DIR / "snoop_canary.py").read_text()
    left, after = sandbox.run_batch(
        [Program("python", hog), Program("python", canary, stdin=STDIN)]
    )
    assert left.status is RunStatus.OK and "left 60 MiB" in left.stdout, left
    assert after.status is RunStatus.OK and after.stdout.strip() == "sum 15\nclean", after
    assert groups == [2, 1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernel_probes_are_refused(backend: str) -> None:
    """Keyring, nested user namespaces, ptrace, io_uring: refused (Docker's default profile
    plus our filter on Docker, our filter on bubblewrap); fork and threads still work."""
    sandbox = get_sandbox(backend)
    result = sandbox.run(Program("python", PROBE, stdin=""))
    assert result.status is RunStatus.OK, result
    probes = _probes(result.stdout)
    for name in (
        "add_key",
        "keyctl",
        "request_key",
        "unshare_user",
        "clone_newuser",
        "ptrace",
        "io_uring_setup",
        "personality",
    ):
        assert probes[name] == "EPERM", (name, probes)
    assert probes["clone3_newuser"] == "ENOSYS", probes
    assert probes["fork"] == "ok" and probes["hostname"] == "sandbox", probes


@pytest.mark.parametrize("backend", BACKENDS)
def test_host_usr_local_is_hidden(backend: str) -> None:
    sandbox = get_sandbox(backend)
    if backend == "docker":
        from sandboxes.docker_backend import OFFLINE_IMAGE

        if sandbox.image_for(LANGUAGES["python"])[0] != OFFLINE_IMAGE:
            pytest.skip("a production image has its own /usr/local")
    probes = _probes(sandbox.run(Program("python", PROBE, stdin="")).stdout)
    assert probes["usr_local"] == "empty", probes


def test_kernel_probes_work_on_the_host() -> None:
    """Positive control: outside a sandbox the same probe gets the keyring and ptrace (and a
    user namespace where the host allows them), so an EPERM inside is the sandbox's doing."""
    out = subprocess.run(
        [sys.executable, "-I", "-c", PROBE],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    probes = _probes(out)
    assert probes["add_key"] == "ok" and probes["keyctl"] == "ok", probes
    assert probes["ptrace"] == "ok" and probes["fork"] == "ok", probes
    try:
        with open("/proc/sys/user/max_user_namespaces") as fh:
            userns = int(fh.read()) > 0
    except OSError:
        userns = False
    if userns:
        assert probes["unshare_user"] == "ok" and probes["clone3_newuser"] == "ok", probes


@pytest.mark.parametrize("backend", BACKENDS)
def test_keyring_carries_nothing_to_a_later_run(backend: str) -> None:
    """A key stored in the uid's keyring (shared across sandboxes of that uid) by one run
    cannot be read by a later, separate run: both are refused the keyring."""
    sandbox = get_sandbox(backend)
    first = sandbox.run(Program("python", PROBE, stdin="write"))
    second = sandbox.run(Program("python", PROBE, stdin="read"))
    assert _probes(first.stdout)["keyring write"] == "EPERM", first
    assert _probes(second.stdout)["keyring read"] == "nothing", second


@pytest.mark.parametrize("backend", BACKENDS)
def test_cpu_quota_bounds_a_forking_burner(backend: str) -> None:
    """Four forked children spin for 3 s of wall time: together they get at most the
    sandbox's quota (0.25 CPU here) however idle the host; unconfined they would get more
    than a whole CPU-second even on a loaded 2-core machine."""
    get_sandbox(backend)  # skips with the reason when the backend is unavailable
    with open_sandbox(backend, cpus=0.25) as sandbox:
        result = sandbox.run(Program("python", BURNER, timeout_s=30))
    assert result.status is RunStatus.OK, result
    fields = result.stdout.split()
    cpu, wall = float(fields[1]), float(fields[3])
    assert wall >= 3.0
    assert cpu <= 0.25 * wall * 1.2 + 0.3, result.stdout
