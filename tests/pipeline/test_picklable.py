"""Every DoFn/PTransform of ``pipeline.*`` survives the trip to a remote worker.

Dataflow, Spark and Flink workers receive the graph's functions pickled (Beam's default
pickler, cloudpickle) and unpickle them in a fresh interpreter. A DoFn that keeps an open
client, a lock or a compiled parser from ``__init__``, or that leans on module-level state set
by the launcher, works on the DirectRunner in-process and breaks there. Two checks:

* discovery: every ``pipeline`` module must import, and every DoFn/PTransform subclass defined
  in it is built with sample arguments (configs with their defaults, an evaluation index over
  a one-item set) and round-tripped through ``apache_beam.internal.pickler``. Nothing here
  is a skip: a module that stops importing, or a class that no longer accepts its sample
  arguments, fails the test (a new parameter type gets a sample in ``SAMPLES``);
* the real graph: ``pipeline.run.build_pipeline`` is built for the default run and serialised
  with ``Pipeline.to_runner_api()`` (what a runner submission does); every ParDo's pickled
  payload is then unpickled in a separate interpreter, as a worker would.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import importlib
import inspect
import pkgutil
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.internal import pickler

import pipeline
from schemas import RELEASE_SCHEMA

ROOT = Path(__file__).resolve().parents[2]


MODULE_NAMES = sorted(info.name for info in pkgutil.walk_packages(pipeline.__path__, "pipeline."))


def _import_all() -> tuple[list[types.ModuleType], list[tuple[str, str]]]:
    modules, broken = [], []
    for name in MODULE_NAMES:
        try:
            modules.append(importlib.import_module(name))
        except Exception as exc:  # noqa: BLE001 - reported by test_every_pipeline_module_imports
            broken.append((name, f"{type(exc).__name__}: {exc}"))
    return modules, broken


MODULES, BROKEN_MODULES = _import_all()
BEAM_CLASSES = sorted(
    {
        (module.__name__, name): obj
        for module in MODULES
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and obj.__module__ == module.__name__
        and issubclass(obj, (beam.DoFn, beam.PTransform))
    }.items()
)


class NoSample(Exception):
    """No sample value can be made for a parameter of this type."""


def _eval_index(tmp: Path) -> Any:
    """A real evaluation index over a one-item JSONL set (what ``_DecontaminateFn`` carries)."""
    from pipeline.decontaminate import build_index
    from pipeline.minhash import MinHashConfig

    path = tmp / "held_out.jsonl"
    path.write_text('{"task_id": "H/0", "code": "def held_out(x):\\n    return x * 41 + 1\\n"}\n')
    return build_index([str(path)], MinHashConfig())


#: Parameter types with no plain literal: a factory building a real value of the type.
SAMPLES: dict[str, Any] = {"pipeline.decontaminate.EvalIndex": _eval_index}


def _sample(tp: Any, tmp: Path, depth: int = 0) -> Any:
    """A plain value of type ``tp``: defaults for configs, harmless literals otherwise."""
    factory = SAMPLES.get(f"{getattr(tp, '__module__', '')}.{getattr(tp, '__qualname__', '')}")
    if factory is not None:
        return factory(tmp)
    if depth > 4:
        raise NoSample(f"{tp} nests too deep")
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if type(None) in typing.get_args(tp):
            return None
        return _sample(arms[0], tmp, depth + 1)
    if origin in (tuple, list, collections.abc.Sequence) or tp in (tuple, list):
        return ()
    if dataclasses.is_dataclass(tp):
        return _build(tp, tmp, depth + 1)
    simple = {str: "sample", int: 1, float: 1.0, bool: False, Path: tmp, pa.Schema: RELEASE_SCHEMA}
    if tp in simple:
        return simple[tp]
    raise NoSample(f"no sample value for {tp!r}")


def _build(cls: type, tmp: Path, depth: int = 0) -> Any:
    """Instantiate ``cls`` filling only the parameters that have no default."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception as exc:  # noqa: BLE001 - an unresolvable annotation: cannot build it
        raise NoSample(f"annotations of {cls.__name__}: {exc}") from None
    kwargs = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is not param.empty:
            continue
        if name not in hints and name == "schema":
            kwargs[name] = RELEASE_SCHEMA
            continue
        if name == "spec":  # a source spec every reader accepts: a (here empty) repository
            kwargs[name] = f"repo:{tmp}"
            continue
        if name not in hints:
            raise NoSample(f"{cls.__name__}.{name} has no annotation")
        kwargs[name] = _sample(hints[name], tmp, depth)
    return cls(**kwargs)


def test_every_pipeline_module_imports():
    assert not BROKEN_MODULES, "pipeline modules that do not import:\n" + "\n".join(
        f"{name}: {error}" for name, error in BROKEN_MODULES
    )
    assert len(MODULES) == len(MODULE_NAMES) >= 40
    assert len(BEAM_CLASSES) >= 30  # discovery finds the stages' transforms, not nothing


@pytest.mark.parametrize(
    ("where", "cls"), BEAM_CLASSES, ids=[f"{m}.{n}" for (m, n), _ in BEAM_CLASSES]
)
def test_transform_round_trips_through_the_pickler(where, cls, tmp_path):
    obj = _build(cls, tmp_path)  # NoSample, ValueError, TypeError: the test fails, naming why
    clone = pickler.loads(pickler.dumps(obj))
    assert type(clone) is type(obj)
    if dataclasses.is_dataclass(getattr(obj, "config", None)):
        assert clone.config == obj.config


def _default_graph(tmp_path: Path) -> beam.Pipeline:
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline import run
    from pipeline.options import run_config_from_options
    from pipeline.sinks import OutputLayout

    options = PipelineOptions(
        [
            "--runner=DirectRunner",
            "--sandbox=none",
            "--translator=py2many",
            f"--output={tmp_path / 'out'}",
        ]
    )
    cfg = run_config_from_options(options)
    configs = run.stage_configs(cfg, "none")
    p = beam.Pipeline(options=options)
    run.build_pipeline(p, cfg, OutputLayout(tmp_path / "out" / ".staging" / "t"), configs)
    return p


def test_whole_graph_unpickles_in_a_fresh_interpreter(tmp_path):
    from apache_beam.portability import common_urns, python_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    p = _default_graph(tmp_path)
    proto = p.to_runner_api()  # pickles every DoFn, as a runner submission does
    payloads = []
    for transform_id, transform in proto.components.transforms.items():
        if transform.spec.urn == common_urns.primitives.PAR_DO.urn:
            pardo = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload)
            if pardo.do_fn.urn != python_urns.PICKLED_DOFN_INFO:
                continue  # Beam's own built-ins (e.g. key-with-None) carry no pickled payload
            payloads.append((transform.unique_name or transform_id, pardo.do_fn.payload))
    assert len(payloads) >= 5  # sources, translate, parse, execute, dedup, sinks ...
    folder = tmp_path / "payloads"
    folder.mkdir()
    for i, (_, blob) in enumerate(payloads):
        (folder / f"{i:04d}.bin").write_bytes(blob)
    script = (
        "import sys, pathlib\n"
        "import apache_beam as beam\n"
        "from apache_beam.internal import pickler\n"
        "bad = []\n"
        "for f in sorted(pathlib.Path(sys.argv[1]).glob('*.bin')):\n"
        "    try:\n"
        "        fn = pickler.loads(f.read_bytes())[0]\n"
        "        assert isinstance(fn, beam.DoFn), type(fn)\n"
        "    except Exception as exc:\n"
        "        bad.append(f'{f.stem}\\t{type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    failures = []
    for line in filter(None, done.stdout.splitlines()):
        index, _, error = line.partition("\t")
        failures.append(f"{payloads[int(index)][0]}: {error}")
    assert done.returncode == 0, (
        "DoFns that do not unpickle on a worker:\n" + "\n".join(failures) + done.stderr[-2000:]
    )
