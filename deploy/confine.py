"""Where a manifest may read files from: the project, or an artifacts root it declares.

A manifest's files are uploaded into the account, and in a GitOps flow a
manifest is whatever a pull request says. Without confinement, ``from:
/proc/self/environ`` (or ``../../.git/config``, or a symlink leading out)
would stage the deploy process's secrets. So every file must resolve, links
followed, to a regular file under an allowed root, with no hidden component
(``.git``, ``.env``, ``.ssh``) below that root.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

# The project root is the nearest directory, from the manifest's own upwards, holding one of
# PROJECT_MARKERS; localsnow finds its default home the same way, so the rule lives there.
from localsnow.paths import PROJECT_MARKERS, project_root

# Never a source of artifacts, whatever a manifest declares: kernel and device views, system configuration.
SYSTEM_TREES = tuple(Path(p) for p in ("/proc", "/sys", "/dev", "/run", "/var/run", "/etc", "/boot"))


__all__ = ["PROJECT_MARKERS", "SYSTEM_TREES", "OutsideRoots", "Roots", "project_root"]


class OutsideRoots(ValueError):
    """A path a manifest may not read; the message says why and how to fix it."""


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _system_tree(path: Path) -> Path | None:
    return next((t for t in SYSTEM_TREES if _within(path, t)), None)


def _hidden_part(path: Path, root: Path) -> str | None:
    return next((p for p in path.relative_to(root).parts if p.startswith(".")), None)


@dataclass(frozen=True)
class Roots:
    """The folders a manifest may read: its project, plus an optional declared artifacts root."""

    project: Path
    artifacts: Path | None = None

    def check_artifacts_root(self) -> None:
        """Refuse a declared root that would reopen what confinement closes."""
        root = self.artifacts
        if root is None or not root.exists():
            return  # nothing can resolve inside it; each file reports that it is missing
        if not root.is_dir():
            raise OutsideRoots(f"{root} is not a directory; point it at the folder holding the training runs")
        if tree := _system_tree(root):
            raise OutsideRoots(f"{root} is under {tree}, which never holds artifacts")
        home = Path.home().resolve()
        for around in (self.project, home):
            if _within(around, root):
                raise OutsideRoots(
                    f"{root} contains {around}, so it would open every file around it; "
                    "declare the folder that holds the artifacts themselves"
                )
        if _within(root, home) and (part := _hidden_part(root, home)):
            raise OutsideRoots(f"{root} is inside the hidden folder ~/{part}; keep artifacts out of hidden folders")

    def resolve(self, path: Path) -> Path:
        """The real path of a file a manifest names, after checking it may be read; else OutsideRoots."""
        real = Path(os.path.realpath(path))
        if tree := _system_tree(real):
            raise OutsideRoots(f"{path} resolves under {tree}; only artifact files may be staged")
        roots = [r for r in (self.project, self.artifacts) if r is not None]
        root = next((r for r in roots if _within(real, r)), None)
        if root is None:
            shown = f" (resolves to {real})" if real != path else ""
            declared = f" or the artifacts root {self.artifacts}" if self.artifacts else ""
            raise OutsideRoots(
                f"{path}{shown} is outside the project {self.project}{declared}; "
                "keep artifacts inside the project or declare `artifacts_root:` in the manifest"
            )
        if part := _hidden_part(real, root):
            raise OutsideRoots(f"{path} is inside the hidden {part!r} under {root}; hidden files are never staged")
        return real

    def regular_file(self, path: Path) -> Path:
        """``resolve`` plus: a regular file, not a fifo, device, socket or directory."""
        real = self.resolve(path)
        mode = os.stat(real).st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a fifo"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket"
                if stat.S_ISSOCK(mode)
                else "a directory"
                if stat.S_ISDIR(mode)
                else "not a regular file"
            )
            raise OutsideRoots(f"{path} is {kind}; only regular files can be staged")
        return real
