"""The ecosystem corpus on disk: download each pinned release, check its hash, unpack its `.py`.

Archives come from the package index through ``pip download`` (the index the machine's pip is set
up for), so nothing here names a host. A project is unpacked once into
``<cache>/corpus/<name>-<version>/`` and marked complete; a later run reuses it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import tomllib

HERE = Path(__file__).resolve().parent
PROJECTS = HERE / "projects.toml"
DEFAULT_CACHE = Path.home() / ".cache" / "torchlint-ecosystem"
_COMPLETE = ".torchlint-ecosystem-complete"


class CorpusError(Exception):
    """A project could not be fetched or did not match its pinned hash."""


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    kind: str  # "sdist" or "wheel"
    sha256: str

    @property
    def folder(self) -> str:
        return f"{self.name}-{self.version}"


def load_projects(path: Path = PROJECTS) -> list[Project]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [Project(**entry) for entry in data["project"]]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(project: Project, archives: Path) -> Path:
    """The project's archive, downloaded unless a file with the pinned hash is already there."""
    archives.mkdir(parents=True, exist_ok=True)
    for existing in archives.iterdir():
        if existing.is_file() and _sha256(existing) == project.sha256:
            return existing
    target = archives / project.folder
    target.mkdir(exist_ok=True)
    binary = ["--no-binary=:all:"] if project.kind == "sdist" else ["--only-binary=:all:"]
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *binary,
        "--dest", str(target), f"{project.name}=={project.version}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise CorpusError(f"{project.folder}: pip download failed:\n{done.stderr.strip()}")
    for candidate in target.iterdir():
        if _sha256(candidate) == project.sha256:
            final = archives / candidate.name
            candidate.replace(final)
            shutil.rmtree(target, ignore_errors=True)
            return final
    raise CorpusError(
        f"{project.folder}: no downloaded file has the pinned sha256 {project.sha256}"
    )


def _inside(member: str, strip_top: bool) -> PurePosixPath | None:
    """Where an archive member goes under the project folder; None for what is not unpacked."""
    parts = PurePosixPath(member).parts
    if strip_top:
        parts = parts[1:]
    if not parts or not parts[-1].endswith(".py") or ".." in parts or parts[0] == "/":
        return None
    return PurePosixPath(*parts)


def _unpack(archive: Path, destination: Path) -> None:
    if archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                relative = _inside(member.name, strip_top=True)
                if relative is None or not member.isfile():
                    continue
                handle = tar.extractfile(member)
                if handle is not None:
                    _write(destination / relative, handle.read())
    else:
        with zipfile.ZipFile(archive) as wheel:
            for name in wheel.namelist():
                relative = _inside(name, strip_top=False)
                if relative is not None:
                    _write(destination / relative, wheel.read(name))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def ensure_corpus(cache: Path = DEFAULT_CACHE, projects: list[Project] | None = None) -> Path:
    """The corpus folder, every project downloaded and unpacked (only what is missing)."""
    corpus = cache / "corpus"
    for project in projects if projects is not None else load_projects():
        folder = corpus / project.folder
        if (folder / _COMPLETE).exists():
            continue
        print(f"fetching {project.folder} ({project.kind})", file=sys.stderr)
        archive = _download(project, cache / "archives")
        shutil.rmtree(folder, ignore_errors=True)
        _unpack(archive, folder)
        (folder / _COMPLETE).write_text(project.sha256 + "\n", encoding="utf-8")
    return corpus
