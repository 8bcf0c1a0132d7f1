"""What goes into a sandbox (:class:`Program`) and what comes out (:class:`RunResult`).

Also the translation both backends share: a program becomes a *job* for the in-sandbox agent
(files, steps with expanded commands, environment, limits), and the agent's raw facts become
a :class:`RunResult` through the one classifier in :mod:`sandboxes.status`.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

from sandboxes.languages import Language, expand, resolve_language
from sandboxes.status import RunStatus, classify

#: Bytes of stdout and of stderr kept per run.
OUTPUT_BYTES = 64 * 1024
#: Largest file a program may write (RLIMIT_FSIZE).
FILE_SIZE_BYTES = 64 * 1024 * 1024
#: Open files per process (RLIMIT_NOFILE).
NOFILE = 256
#: Memory added to a run's cgroup for the agent that supervises it.
AGENT_MEMORY_MB = 48
#: Program i of a batch runs as uid (and gid) ``PROGRAM_UID_BASE + i``; the batch compile, in
#: which no program runs, as ``COMPILE_UID``. Below 65536, so that they exist in a Docker
#: daemon's remapped user namespace too; no name needed (the sandbox has no passwd file).
PROGRAM_UID_BASE = 20000
COMPILE_UID = 19999
#: The most programs one batch may hold (their uids stay below 65534, "nobody").
MAX_BATCH = 65534 - PROGRAM_UID_BASE


@dataclass(frozen=True)
class Program:
    """One program to compile (if needed) and run.

    ``source`` is the whole main file; the language table decides its name (Java: the public
    class). ``extra_files`` are (relative path, content) pairs written beside it.
    """

    language: str
    source: str
    stdin: str = ""
    timeout_s: float | None = None
    memory_mb: int | None = None
    extra_files: tuple[tuple[str, str], ...] = ()
    #: CPU seconds the run may use (RLIMIT_CPU, scaled like ``timeout_s`` by the language's
    #: time factor); ``timeout_s`` is then only a wall-clock backstop, so how busy the machine
    #: is cannot turn a program that stays within its CPU into a timeout. None: the wall limit
    #: decides (and the CPU limit is one second above it).
    cpu_s: float | None = None

    def __post_init__(self) -> None:
        resolve_language(self.language)  # ValueError for an unknown language
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s!r}")
        if self.cpu_s is not None and not self.cpu_s >= 1:
            raise ValueError(
                f"cpu_s must be >= 1 (RLIMIT_CPU counts whole seconds), got {self.cpu_s!r}"
            )
        if self.memory_mb is not None and self.memory_mb < 16:
            raise ValueError(f"memory_mb must be >= 16, got {self.memory_mb!r}")
        for name, _ in self.extra_files:
            if name.startswith("/") or ".." in name.split("/"):
                raise ValueError(f"extra file {name!r} must be a relative path inside the work dir")


@dataclass(frozen=True)
class RunResult:
    """Outcome of one program run. ``phase``: the step that decided it (setup/compile/run)."""

    status: RunStatus
    exit_code: int | None
    stdout: str
    stderr: str
    wall_s: float
    phase: str

    def to_dict(self) -> dict:
        return {
            "status": self.status.value,
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "wall_s": round(self.wall_s, 4),
            "phase": self.phase,
        }


@dataclass(frozen=True)
class Job:
    """A program as the agent runs it (backend-independent)."""

    language: Language
    memory_mb: int
    spec: dict = field(hash=False, compare=False)

    @property
    def timeout_total_s(self) -> float:
        return sum(float(step["timeout_s"]) for step in self.spec["steps"])


def run_timeout_s(language: Language, program: Program) -> float:
    """The run step's wall limit: the caller's, scaled by the language's factor, or the default."""
    if program.timeout_s is None:
        return language.timeout_s
    return program.timeout_s * language.time_factor


def make_job(
    program: Program,
    *,
    token: str | None = None,
    use_nproc_rlimit: bool = False,
    address_space: bool = False,
) -> Job:
    """Translate ``program`` into the agent's job description.

    ``use_nproc_rlimit``: set RLIMIT_NPROC (hosts without a pids cgroup). ``address_space``:
    cap RLIMIT_AS at the memory limit (hosts without a memory cgroup).
    """
    lang = resolve_language(program.language)
    memory_mb = program.memory_mb or lang.memory_mb
    main = lang.main_file(program.source)
    files = [(main, program.source), *program.extra_files]
    steps = []
    if lang.compile_argv is not None:
        steps.append(
            {
                "phase": "compile",
                "argv": expand(lang, lang.compile_argv, main, memory_mb),
                "timeout_s": lang.compile_timeout_s,
            }
        )
    steps.append(
        {
            "phase": "run",
            "argv": expand(lang, lang.run_argv, main, memory_mb),
            "timeout_s": run_timeout_s(lang, program),
            "stdin": program.stdin,
        }
    )
    if program.cpu_s is not None:
        steps[-1]["cpu_s"] = program.cpu_s * lang.time_factor
    env = {
        "PATH": lang.search_path(),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "SANDBOX_RUN": token or uuid.uuid4().hex,
        **dict(lang.env),
    }
    spec = {
        "files": files,
        "steps": steps,
        "env": env,
        "output_bytes": OUTPUT_BYTES,
        "file_size_bytes": FILE_SIZE_BYTES,
        "nofile": NOFILE,
        "nproc": lang.nproc if use_nproc_rlimit else None,
        "address_space_mb": memory_mb if address_space else None,
    }
    return Job(language=lang, memory_mb=memory_mb, spec=spec)


def to_result(
    job: Job, raw: dict | None, lost_reason: str = "the sandbox lost this run"
) -> RunResult:
    """Classify the agent's raw facts for ``job`` (``None``: the agent never reported it)."""
    if raw is None:
        return RunResult(RunStatus.SANDBOX_ERROR, None, "", lost_reason, 0.0, "setup")
    stderr = raw.get("stderr", "")
    if raw.get("error"):
        stderr = (stderr + "\n" if stderr else "") + f"sandbox: {raw['error']}"
    status = classify(
        phase=raw["phase"],
        exit_code=raw.get("exit_code"),
        timed_out=bool(raw.get("timed_out")),
        oom_killed=bool(raw.get("oom_killed")),
        output_exceeded=bool(raw.get("output_exceeded")),
        sandbox_failed=bool(raw.get("error")),
        stderr=raw.get("stderr", ""),
        memory_markers=job.language.memory_markers,
    )
    return RunResult(
        status,
        raw.get("exit_code"),
        raw.get("stdout", ""),
        stderr,
        float(raw.get("wall_s", 0.0)),
        raw["phase"],
    )


def batch_deadline_s(jobs: list[Job]) -> float:
    """Generous wall limit for a whole batch: every step's limit plus per-job slack."""
    return math.ceil(sum(job.timeout_total_s + 3.0 for job in jobs) + 20.0)


def group_memory_mb(jobs: list[Job]) -> int:
    """Memory cgroup of a batch: the largest program limit, the agent, and the headroom for
    what a batch compile leaves on the work tmpfs (``Language.batch_artifact_mb``), so every
    program sees the memory it would see alone."""
    lang = jobs[0].language
    headroom = lang.batch_artifact_mb * len(jobs) if len(jobs) > 1 and lang.batch_compiles else 0
    return max(job.memory_mb for job in jobs) + AGENT_MEMORY_MB + headroom


def batch_spec(
    jobs: list[Job],
    *,
    oom_control: str | None,
    switch_uids: bool = False,
    syscall_filter: bool = False,
) -> dict:
    """The agent's input for a batch of one language: jobs plus, for two or more compiled
    programs of a language that declares it, the batch compile (see ``agent.compile_all``).

    ``switch_uids``: the agent may run each program as its own uid (it holds CAP_SETUID);
    ``syscall_filter``: it installs ``syscall_filter.program()`` on every program.
    """
    if len(jobs) > MAX_BATCH:
        raise ValueError(f"a batch holds at most {MAX_BATCH} programs, got {len(jobs)}")
    lang = jobs[0].language
    spec: dict = {
        "jobs": [job.spec for job in jobs],
        "work_root": "/work",
        "oom_control": oom_control,
        "syscall_filter": syscall_filter,
    }
    if switch_uids:
        spec.update(uid_base=PROGRAM_UID_BASE, compile_uid=COMPILE_UID)
    if lang.batch_compiles and len(jobs) > 1:
        spec["batch_compile"] = {
            "server_argv": list(lang.batch_compiler) if lang.batch_compiler else None,
            "env": dict(lang.batch_compile_env),
            "pch_argv": list(lang.batch_pch_argv) if lang.batch_pch_argv else None,
            "link_once": lang.batch_link_once,
            "timeout_s": sum(lang.compile_timeout_s for _ in jobs),
        }
    return spec


def setup_error(detail: str) -> dict:
    """Raw facts for a run the sandbox could not even start."""
    return {"phase": "setup", "exit_code": None, "error": detail}


def sandbox_failed(agent_stderr: str) -> bool:
    """Did the sandbox or the agent itself fail (as opposed to being killed mid-batch)?"""
    return "Traceback" in agent_stderr or "bwrap:" in agent_stderr or "setpriv:" in agent_stderr
