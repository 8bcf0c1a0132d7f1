"""One place per setting: a stage config's fields declare their own command-line flags.

A field made with :func:`setting` carries its flag name, help, type, choices and how the flag's
text becomes the field's value; the field's default is the one default of that setting. The
CLIs add these flags from the dataclasses (:func:`add_flags`) and build the configs back from
the parsed namespace (:func:`values_from`); validation stays in each config's
``__post_init__``. See docs/design.md, "Configuration".

This module imports nothing of Beam or of the stages, so every layer may use it.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

#: The seed of every seeded choice (target subsets, samples, MinHash permutations, splits,
#: generated tests) unless ``--seed`` says otherwise: one value for the pipeline and the dedup CLI.
DEFAULT_SEED = 1234

_UNSET: Any = object()


@dataclasses.dataclass(frozen=True)
class Flag:
    """How one config field appears on the command line."""

    name: str
    help: str | None = None
    type: Callable[[str], Any] | None = None
    choices: Sequence[str] | None = None
    #: the flag's text default when it differs from the field's value (``"auto"`` for a tuple)
    cli_default: Any = _UNSET
    #: flag value -> field value (``"a,b"`` -> ``("a", "b")``); None: the value as parsed
    parse: Callable[[Any], Any] | None = None
    action: str | None = None


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str | None = None,
    flag: str | None = None,
    type: Callable[[str], Any] | None = None,
    choices: Sequence[str] | None = None,
    cli_default: Any = _UNSET,
    parse: Callable[[Any], Any] | None = None,
    action: str | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field that is also a command-line flag (``flag`` defaults to the field name)."""
    meta = {
        "flag": Flag(
            name=flag or "",
            help=help,
            type=type,
            choices=choices,
            cli_default=cli_default,
            parse=parse,
            action=action,
        )
    }
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def flags_of(cls: type) -> list[tuple[dataclasses.Field, Flag]]:
    """(field, flag) of every field of ``cls`` declared with :func:`setting`, in field order."""
    out = []
    for f in dataclasses.fields(cls):
        flag = f.metadata.get("flag")
        if flag is not None:
            out.append((f, dataclasses.replace(flag, name=flag.name or f.name)))
    return out


def field_default(cls: type, name: str) -> Any:
    """The declared default of ``cls.name`` (a factory is called)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise ValueError(f"{cls.__name__}.{name} has no default")
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def _cli_default(f: dataclasses.Field, flag: Flag) -> Any:
    if flag.cli_default is not _UNSET:
        return flag.cli_default
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def add_flag(
    parser: Any, cls: type, field: str, *, name: str | None = None, **overrides: Any
) -> None:
    """Add one field's flag to ``parser`` (``name`` renames it; ``overrides`` replace argparse keywords)."""
    for f, flag in flags_of(cls):
        if f.name == field:
            kwargs = _argparse_kwargs(f, flag)
            if name:
                kwargs["dest"] = name
            if "help" in overrides:
                overrides = {
                    **overrides,
                    "help": _help(
                        dataclasses.replace(flag, help=overrides["help"]),
                        overrides.get("default", kwargs["default"]),
                    ),
                }
            parser.add_argument(f"--{name or flag.name}", **{**kwargs, **overrides})
            return
    raise KeyError(f"{cls.__name__}.{field} declares no flag")


def _argparse_kwargs(f: dataclasses.Field, flag: Flag) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"default": _cli_default(f, flag), "dest": flag.name}
    if flag.action:
        kwargs["action"] = flag.action
    else:
        if flag.type is not None:
            kwargs["type"] = flag.type
        if flag.choices is not None:
            kwargs["choices"] = list(flag.choices)
    kwargs["help"] = _help(flag, kwargs["default"])
    return kwargs


def _help(flag: Flag, default: Any) -> str:
    text = flag.help or ""
    if flag.action or default in (None, ""):
        return text
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    return f"{text} (default: {shown})" if text else f"default: {shown}"


def add_flags(parser: Any, cls: type, title: str | None = None, *, skip: Iterable[str] = ()) -> Any:
    """Add every flag ``cls`` declares, as an argument group titled ``title`` when given."""
    group = parser.add_argument_group(title) if title else parser
    skipped = set(skip)
    for f, flag in flags_of(cls):
        if f.name not in skipped:
            group.add_argument(f"--{flag.name}", **_argparse_kwargs(f, flag))
    return group


def values_from(cls: type, namespace: Any, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Field values of ``cls`` from parsed flags (each through its ``parse``)."""
    skipped = set(skip)
    values = {}
    for f, flag in flags_of(cls):
        if f.name in skipped:
            continue
        raw = getattr(namespace, flag.name)
        values[f.name] = flag.parse(raw) if flag.parse else raw
    return values


def build(cls: type, namespace: Any, **fixed: Any) -> Any:
    """``cls`` from its parsed flags (and ``fixed`` fields); a validation error that starts with
    a field's name names its flag instead (``threshold must be ...`` -> ``--dedup_threshold must be ...``)."""
    try:
        return cls(**values_from(cls, namespace), **fixed)
    except ValueError as exc:
        text = str(exc)
        for f, flag in flags_of(cls):
            if text.startswith(f"{f.name} "):
                raise ValueError(f"--{flag.name}{text[len(f.name) :]}") from None
        raise


def csv(value: str) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``."""
    return tuple(v.strip() for v in value.split(",") if v.strip())


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every ``--flag`` a parser knows."""
    return [s for action in parser._actions for s in action.option_strings if s.startswith("--")]


def unknown_flag_error(unknown: Sequence[str], known: Iterable[str]) -> str | None:
    """One line naming the first flag nobody knows, with the nearest known flag; None if all known."""
    flags = [u.split("=", 1)[0] for u in unknown if u.startswith("--") and u != "--"]
    if not flags:
        return None
    names = sorted(set(known))
    bad = flags[0]
    close = difflib.get_close_matches(bad, names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else " (see --help)"
    more = f" (and {len(flags) - 1} more: {', '.join(flags[1:])})" if len(flags) > 1 else ""
    return f"unrecognized flag {bad}{hint}{more}"


def unknown_beam_flags(
    argv: Sequence[str], *, own: argparse.ArgumentParser | None = None, exclude: Iterable[str] = ()
) -> str | None:
    """:func:`unknown_flag_error` for ``argv`` against every Beam ``PipelineOptions`` class
    loaded (Beam's own and the runners', ours where ``pipeline.options`` is imported) and
    ``own`` (a CLI's own parser); classes named in ``exclude`` do not count."""
    from apache_beam.options import pipeline_options as beam_options

    parser = beam_options._BeamArgumentParser(allow_abbrev=False)
    skipped = set(exclude)
    seen: dict[str, type] = {}
    for options_class in beam_options.PipelineOptions.__subclasses__():
        if options_class.__name__ not in skipped:
            seen.setdefault(str(options_class), options_class)
    for options_class in seen.values():
        options_class._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(list(argv))
    known = option_strings(parser) + (option_strings(own) if own is not None else [])
    return unknown_flag_error(unknown, known)
