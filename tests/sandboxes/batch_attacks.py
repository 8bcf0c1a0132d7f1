"""Attacks by one program of a warm batch on the programs after it, each with an honest canary.

Each :class:`Attack` is an attacker program followed, in the same batch (same language and
memory limit, so the same sandbox), by an honest canary whose verdict and output must be what
they are when the canary runs alone. The attacker prints what it managed to do, so the tests
can check that the attack really happened (a positive control), not only that it was harmless.
The fixtures live in ``fixtures/batch_attacks/``; ``test_batch_isolation.py`` runs them on both
backends. Run as a script, it prints the attack table of docs/sandboxes.md::

    .venv/bin/python tests/sandboxes/batch_attacks.py [--backends=docker,bwrap]

It uses only the public API (``open_sandbox``, ``Program``, ``run_batch``), so it also runs
against an older checkout of ``sandboxes`` (``PYTHONPATH=<checkout>``) for a before/after table.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ATTACKS_DIR = FIXTURES / "batch_attacks"
STDIN = "1 2 3 4 5"


@dataclass(frozen=True)
class Attack:
    """An attacker program and the honest canary that runs right after it.

    Attributes:
        name: short name (test id, table row).
        language: both programs' language (one batch holds one language).
        attacker: the attacker's fixture, relative to ``fixtures/``.
        canary: the canary's fixture, relative to ``fixtures/``.
        canary_stdout: what the canary prints when it runs alone (stripped).
        done: text the attacker prints when the attack itself happened (positive control).
        what: one line for the table.
        harmless: text the attacker prints when it saw nothing of the others (an attack on
            confidentiality, which the canary's output cannot show).
    """

    name: str
    language: str
    attacker: str
    canary: str
    canary_stdout: str
    done: str
    what: str
    harmless: str | None = None

    def sources(self) -> tuple[str, str]:
        return (FIXTURES / self.attacker).read_text(), (FIXTURES / self.canary).read_text()


ATTACKS: tuple[Attack, ...] = (
    Attack(
        "deep_tree",
        "python",
        "batch_attacks/deep_tree.py",
        "python/ok.py",
        "sum 15",
        "own 5000",
        "5000-level directory tree in its dir and /tmp",
    ),
    Attack(
        "sabotage_dirs",
        "python",
        "batch_attacks/sabotage_dirs.py",
        "python/ok.py",
        "sum 15",
        "own True",
        "pre-create and chmod 000 later jobs' dirs /work/jN",
    ),
    Attack(
        "lock_compiled",
        "go",
        "batch_attacks/lock_compiled.go",
        "go/ok.go",
        "sum 15",
        "created",
        "chmod 000 a later Go job's batch-compiled dir",
    ),
    Attack(
        "shm_hog",
        "python",
        "batch_attacks/shm_hog.py",
        "batch_attacks/memory_canary.py",
        "sum 15 330",
        "attached 420 MiB",
        "420 MiB of SysV shm left; canary needs 330 MiB",
    ),
    Attack(
        "file_hog",
        "python",
        "batch_attacks/file_hog.py",
        "batch_attacks/memory_canary.py",
        "sum 15 330",
        "wrote 248 MiB",
        "248 MiB of files left; canary needs 330 MiB",
    ),
    Attack(
        "plant_node",
        "javascript",
        "batch_attacks/plant_node.js",
        "batch_attacks/node_canary.js",
        "sum 15 probe absent",
        "own planted",
        "/work/package.json type=module, /work/node_modules/<name>",
    ),
    Attack(
        "carry_data",
        "python",
        "batch_attacks/carry_data.py",
        "batch_attacks/snoop_canary.py",
        "sum 15\nclean",
        "sysv-shm sysv-msg sysv-sem posix-mq",
        "files in /tmp, /dev/shm, /work, SysV shm/msg/sem, POSIX mqueue",
    ),
    Attack(
        "read_batch",
        "python",
        "batch_attacks/read_batch.py",
        "batch_attacks/snoop_canary.py",
        "sum 15\nclean",
        "own True",
        "read the batch manifest, other job dirs, /proc of others",
        harmless="leaked []",
    ),
)


def run_attack(sandbox, attack: Attack) -> tuple:
    """(attacker result, canary result) from one batch of the two programs."""
    from sandboxes import Program

    attacker, canary = attack.sources()
    return tuple(
        sandbox.run_batch(
            [
                Program(attack.language, attacker, stdin=STDIN),
                Program(attack.language, canary, stdin=STDIN),
            ]
        )
    )


def run_alone(sandbox, attack: Attack):
    """The canary's result in a sandbox of its own."""
    from sandboxes import Program

    return sandbox.run_batch([Program(attack.language, attack.sources()[1], stdin=STDIN)])[0]


def keyring_across_runs(sandbox) -> tuple[str, str]:
    """Store a key in the uid's keyring in one run, look it up in a later, separate run."""
    from sandboxes import Program

    probe = (ATTACKS_DIR / "kernel_probes.py").read_text()
    first = sandbox.run(Program("python", probe, stdin="write"))
    second = sandbox.run(Program("python", probe, stdin="read"))
    wrote = next((line for line in first.stdout.splitlines() if line.startswith("keyring")), "")
    read = next((line for line in second.stdout.splitlines() if line.startswith("keyring")), "")
    return wrote, read


def reached(attack: Attack, attacker, canary, alone) -> bool:
    """Did the attack reach the canary (its verdict or output changed, or it was read)?"""
    if attack.harmless is not None and attack.harmless not in attacker.stdout:
        return True
    return (canary.status, canary.stdout.strip()) != (alone.status, alone.stdout.strip())


def _cell(result, expected: str | None = None) -> str:
    text = result.status.value
    if expected is not None and result.status.value == "ok" and result.stdout.strip() != expected:
        text += " (output changed)"
    return text


def main(argv: list[str] | None = None) -> int:
    from sandboxes import SandboxUnavailable, open_sandbox

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="docker,bwrap")
    parser.add_argument("--verbose", action="store_true", help="also print the programs' output")
    args = parser.parse_args(argv)
    print(
        "| attack | backend | attacker | attack happened | canary after it | canary alone "
        "| reached the canary |"
    )
    print("|---|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        try:
            sandbox = open_sandbox(backend)
        except SandboxUnavailable as exc:
            print(f"# {backend}: skipped ({exc})")
            continue
        with sandbox:
            for attack in ATTACKS:
                attacker, canary = run_attack(sandbox, attack)
                alone = run_alone(sandbox, attack)
                happened = "yes" if attack.done in attacker.stdout else "no"
                hit = "YES" if reached(attack, attacker, canary, alone) else "no"
                print(
                    f"| {attack.name} | {backend} | {attacker.status.value} | {happened} | "
                    f"{_cell(canary, alone.stdout.strip())} | {_cell(alone)} | {hit} |",
                    flush=True,
                )
                if args.verbose:
                    for label, result in (("attacker", attacker), ("canary", canary)):
                        print(f"#   {label}: {result.stdout.strip()!r} {result.stderr[-300:]!r}")
            wrote, read = keyring_across_runs(sandbox)
            hit = "YES" if "carried-over" in read else "no"
            print(f"| keyring, 2 runs | {backend} | {wrote} | | {read} | | {hit} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
