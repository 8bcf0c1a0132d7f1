"""The backend-independent sandbox: batch API, self-test, toolchain versions, ``open_sandbox``.

A backend implements one method, ``_run_group(jobs) -> list[dict]``: start one sandbox (a
container, a bwrap sandbox) running the agent over a batch of jobs of one language and memory
limit, and return the agent's raw facts in order (fewer when the agent was lost). Everything
else (jobs from programs, grouping and chunking by ``batch_size``, re-running what a lost agent
did not report, worker threads, the one classifier, self-test, versions) lives here, so both
backends give the same verdicts.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from sandboxes.languages import LANGUAGES, resolve_language
from sandboxes.program import MAX_BATCH, Job, Program, RunResult, make_job, to_result
from sandboxes.status import RunStatus

BACKENDS: tuple[str, ...] = ("auto", "docker", "bwrap")


class SandboxUnavailable(RuntimeError):
    """The requested backend cannot run on this host (no daemon, no bwrap); says why."""


class Sandbox(abc.ABC):
    """Runs untrusted programs; see docs/contracts.md, section sandboxes/."""

    name: str = ""
    #: The backend has per-run pids and memory cgroups (else rlimits stand in for them).
    has_cgroups: bool = True

    def __init__(self, *, batch_size: int = 64, workers: int = 1, cpus: float = 1.0) -> None:
        """``cpus``: CPU quota of each sandbox (a batch), in CPUs: however many processes a
        program forks, together they get at most this much CPU time per second of wall time,
        so a fork cannot multiply the per-process CPU limit."""
        if batch_size < 1 or workers < 1:
            raise ValueError(f"batch_size and workers must be >= 1, got {batch_size}, {workers}")
        if batch_size > MAX_BATCH:
            raise ValueError(
                f"batch_size must be <= {MAX_BATCH} (one uid per program), got {batch_size}"
            )
        if not 0.01 <= cpus <= 1024:
            raise ValueError(f"cpus must be between 0.01 and 1024, got {cpus!r}")
        self.batch_size = batch_size
        self.workers = workers
        self.cpus = cpus
        self._versions: dict[str, str] = {}
        self.token = uuid.uuid4().hex  # marks every process this sandbox starts (SANDBOX_RUN)

    # -- the one backend hook -------------------------------------------------------------
    @abc.abstractmethod
    def _run_group(self, jobs: list[Job]) -> list[dict]:
        """Run ``jobs`` (one language, one memory limit) in one sandbox; raw facts in order.

        May return fewer results than jobs when the agent is lost (the rest are re-run).
        """

    # -- batching -------------------------------------------------------------------------
    def _run_chunk(self, jobs: list[Job]) -> list[dict | None]:
        """Run a chunk, re-running in a fresh sandbox what a lost agent did not report.

        A job that loses two sandboxes in a row gets ``None`` (reported as sandbox_error).
        """
        results: list[dict | None] = []
        pending = list(jobs)
        lost_once = False
        while pending:
            got = self._run_group(pending)[: len(pending)]
            results += got
            pending = pending[len(got) :]
            if not pending:
                break
            if got:
                lost_once = False
            elif lost_once:
                results.append(None)
                pending = pending[1:]
                lost_once = False
            else:
                lost_once = True
        return results

    def _run_jobs(self, jobs: list[Job]) -> list[dict | None]:
        """Group by (language, memory), chunk by ``batch_size``, run chunks on ``workers``."""
        groups: dict[tuple[str, int], list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault((job.language.name, job.memory_mb), []).append(i)
        chunks = [
            indices[start : start + self.batch_size]
            for indices in groups.values()
            for start in range(0, len(indices), self.batch_size)
        ]

        def run(idx: list[int]) -> list[dict | None]:
            return self._run_chunk([jobs[i] for i in idx])

        if self.workers == 1 or len(chunks) == 1:
            results = [run(idx) for idx in chunks]
        else:
            with ThreadPoolExecutor(self.workers) as pool:
                results = list(pool.map(run, chunks))
        out: list[dict | None] = [None] * len(jobs)
        for idx, res in zip(chunks, results, strict=True):
            for i, raw in zip(idx, res, strict=True):
                out[i] = raw
        return out

    # -- public API -----------------------------------------------------------------------
    def make_job(self, program: Program) -> Job:
        return make_job(
            program,
            token=self.token,
            use_nproc_rlimit=not self.has_cgroups,
            address_space=not self.has_cgroups,
        )

    def run(self, program: Program) -> RunResult:
        """Compile (if needed) and run one program."""
        return self.run_batch([program])[0]

    def run_batch(self, programs: list[Program]) -> list[RunResult]:
        """Run ``programs`` with start-up costs amortised; results in the same order."""
        if not programs:
            return []
        jobs = [self.make_job(program) for program in programs]
        raws = self._run_jobs(jobs)
        if len(raws) != len(jobs):
            raise RuntimeError(f"{self.name}: {len(raws)} results for {len(jobs)} jobs")
        return [to_result(job, raw) for job, raw in zip(jobs, raws, strict=True)]

    def self_test(self, languages: Iterable[str] | None = None) -> dict[str, tuple[bool, str]]:
        """Per language: does the passing program pass and the failing one fail?

        Run once at start-up so that a broken toolchain is reported once, clearly, instead of
        every translation being rejected as a compile error. Returns ``{name: (ok, message)}``.
        """
        names = [resolve_language(name).name for name in (languages or LANGUAGES)]
        programs = []
        for name in names:
            lang = LANGUAGES[name]
            programs += [Program(name, lang.smoke_ok), Program(name, lang.smoke_fail)]
        results = self.run_batch(programs)
        report: dict[str, tuple[bool, str]] = {}
        for i, name in enumerate(names):
            good, bad = results[2 * i], results[2 * i + 1]
            if good.status != RunStatus.OK or good.stdout.strip() != "ok":
                tail = (good.stderr or good.stdout)[-400:].strip()
                report[name] = (
                    False,
                    f"{self.name}: the passing {name} program ended in "
                    f"{good.status.value} ({good.phase}): {tail}",
                )
            elif bad.status != RunStatus.RUNTIME_ERROR:
                report[name] = (
                    False,
                    f"{self.name}: the failing {name} program ended in "
                    f"{bad.status.value}, expected runtime_error",
                )
            else:
                report[name] = (True, f"{self.name}: {name} ok ({self.toolchain_version(name)})")
        return report

    def toolchain_version(self, language: str) -> str:
        """First line the toolchain prints for its version, run inside this sandbox (cached)."""
        lang = resolve_language(language)
        if lang.name not in self._versions:
            job = self.make_job(Program(lang.name, lang.smoke_ok))
            job.spec["steps"] = [
                {"phase": "run", "argv": list(lang.version_argv), "timeout_s": 30.0, "stdin": ""}
            ]
            result = to_result(job, self._run_jobs([job])[0])
            text = (result.stdout.strip() or result.stderr.strip()).splitlines()
            if result.status != RunStatus.OK or not text:
                raise SandboxUnavailable(
                    f"{self.name}: {lang.name} toolchain does not answer: "
                    f"{result.status.value} {result.stderr[-300:]}"
                )
            self._versions[lang.name] = text[0].strip()
        return self._versions[lang.name]

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by the sandboxes this object started (agent, compilers and
        programs), or None where the backend does not account for it separately.

        Docker's containers are no children of this process, so their CPU time is read from
        the cgroup they are started under; bwrap sandboxes are children, so their CPU time is
        already in this process's ``RUSAGE_CHILDREN`` (None here, so nothing counts twice).
        The daemons' own work (dockerd, containerd) is in neither.
        """
        return None

    def close(self) -> None:
        """Release what the backend holds (containers, temp dirs)."""
        self._versions.clear()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_sandbox(backend: str = "auto", **options) -> Sandbox:
    """A ready sandbox. ``auto``: Docker when a daemon answers, else bubblewrap, else raises.

    ``options`` go to the backend's constructor (e.g. ``batch_size``, ``workers``, ``cpus``).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {backend!r}; valid: {', '.join(BACKENDS)}")
    errors = []
    if backend in ("auto", "docker"):
        from sandboxes.docker_backend import DockerSandbox

        try:
            return DockerSandbox(**options)
        except SandboxUnavailable as exc:
            if backend == "docker":
                raise
            errors.append(str(exc))
    from sandboxes.bwrap_backend import BwrapSandbox

    try:
        return BwrapSandbox(**options)
    except SandboxUnavailable as exc:
        errors.append(str(exc))
    raise SandboxUnavailable("no sandbox backend can run here: " + "; ".join(errors))
