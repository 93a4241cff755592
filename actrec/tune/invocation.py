"""A sweep remembers how it was invoked, so ``--resume`` finishes exactly that sweep.

The driver stores its resolved options (profile, tracking URI, storage and report paths, ``--set``s, seeds, search,
data roots, the sweep's own options) and its command line in ``<sweep dir>/actrec_invocation.json`` before it starts
anything. ``--resume`` restores them; a flag given again with another value is an error naming it, since the sweep
could not honour it (its trials, Tune state and MLflow runs were made with the stored value).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actrec.errors import UsageError

INVOCATION_FILE = "actrec_invocation.json"
# Options that describe this run of the driver, not the sweep: free to differ on a resume.
PER_RUN = ("resume", "dry_run", "verbose", "cluster")


def explicit_options(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> set[str]:
    """Destinations of the options ``argv`` gives explicitly (defaults excluded), parsed with ``parser``'s rules."""
    bare = copy.deepcopy(parser)
    for action in bare._actions:  # argparse has no public way to parse without defaults
        action.default = argparse.SUPPRESS
    return set(vars(bare.parse_args(argv)))


def normalized(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep-defining options of ``args`` as stored: paths absolute, the tracking URI resolved, ``--set``s in
    the order given."""
    from actrec.track.uri import resolve_tracking_uri

    values = {k: v for k, v in vars(args).items() if k not in PER_RUN}
    values["tracking_uri"] = resolve_tracking_uri(values.get("tracking_uri"))
    for key in ("storage_path", "report_dir"):
        if values.get(key):
            values[key] = os.path.abspath(os.path.expanduser(values[key]))
    roots = values.get("data_root") or []
    values["data_root"] = [_absolute_root(r) for r in ([roots] if isinstance(roots, str) else roots)] or None
    values["overrides"] = list(values.get("overrides") or [])
    return values


def _absolute_root(value: str) -> str:
    name, sep, path = value.partition("=")
    if sep and name.isidentifier():
        return f"{name}={os.path.abspath(os.path.expanduser(path))}"
    return os.path.abspath(os.path.expanduser(value))


def save_invocation(sweep_dir: str, args: argparse.Namespace, argv: Sequence[str] | None, *, sweep: str) -> Path:
    """Write ``args`` (normalised), the sweep's name and the command line into ``sweep_dir``; returns the file."""
    path = Path(sweep_dir) / INVOCATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, sys.argv[0], *(sys.argv[1:] if argv is None else argv)]
    record = {"sweep": sweep, "options": normalized(args), "command": shlex.join(command), "cwd": os.getcwd()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)
    return path


def load_invocation(sweep_dir: str) -> dict[str, Any] | None:
    """The stored record of ``sweep_dir`` (None for a sweep started before invocations were stored)."""
    path = Path(sweep_dir) / INVOCATION_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        return {"options": dict(record["options"]), **{k: v for k, v in record.items() if k != "options"}}
    except (ValueError, KeyError, TypeError) as err:
        raise UsageError(f"{path} is not a readable sweep invocation ({err}); the sweep cannot be resumed") from None


def restore_invocation(
    args: argparse.Namespace, explicit: set[str], stored: dict[str, Any], *, parser: argparse.ArgumentParser
) -> argparse.Namespace:
    """``args`` with every stored option restored; an explicit flag whose value differs from the stored one is a
    :class:`UsageError` naming each such flag with both values."""
    now = normalized(args)
    options = stored["options"]
    conflicts = []
    for dest, value in options.items():
        if dest in explicit and _comparable(dest, now.get(dest)) != _comparable(dest, value):
            conflicts.append(f"{_flag(parser, dest)} {_shown(now.get(dest))} (the sweep has {_shown(value)})")
    if conflicts:
        raise UsageError(
            "--resume finishes the sweep as it was started; these flags conflict with it: "
            + "; ".join(conflicts)
            + ". Drop them (the stored values are used), or start a new sweep"
        )
    restored = argparse.Namespace(**vars(args))
    for dest, value in options.items():
        setattr(restored, dest, value)
    return restored


def _comparable(dest: str, value: Any) -> Any:
    if dest == "overrides":
        from actrec.config import parse_overrides

        return sorted(parse_overrides(value or []).items())
    if isinstance(value, list | tuple):
        return sorted(map(str, value))
    return value


def _flag(parser: argparse.ArgumentParser, dest: str) -> str:
    for action in parser._actions:
        if action.dest == dest and action.option_strings:
            return action.option_strings[0]
    return dest


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list | tuple):
        return " ".join(map(str, value)) or "(none)"
    return str(value)


def resume_command(sweep_dir: str) -> str:
    """What finishes this sweep: the script again, with ``--resume`` and its directory (the rest is stored)."""
    return shlex.join(["python", sys.argv[0], "--resume", sweep_dir])
