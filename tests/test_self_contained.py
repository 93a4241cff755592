"""The repository stands alone: no file in it points at paper texts or notes kept outside it.

Reports, docs and tests cite papers by title, venue and year (``actrec.papers``' ``*_CITATION``) and tests
carry the paper numbers they check, so a checkout alone builds, tests and reads (issue item 13, "Self-contained").
"""

import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Spelled in pieces so this file does not name them itself.
OUTSIDE = "shared"
FORBIDDEN = (f"{OUTSIDE}/papers", f"{OUTSIDE}/TABLES.md", f"../{OUTSIDE}")


def _repository_files() -> list[str]:
    """Tracked files and new ones git would add (untracked, not ignored), relative to the repository root."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"not a git checkout ({err})")
    return sorted({name for name in out.decode().split("\0") if name})


def test_no_file_refers_to_files_outside_the_repository():
    found = []
    for name in _repository_files():
        path = ROOT / name
        if not path.is_file():  # deleted in the working tree
            continue
        data = path.read_bytes()
        if b"\0" in data:  # binary (the reports' PNGs)
            continue
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
            found += [f"{name}:{number}: {line.strip()[:120]}" for word in FORBIDDEN if word in line]
    assert not found, "files that refer outside the repository:\n" + "\n".join(found)
