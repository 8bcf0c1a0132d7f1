"""Build the production sandbox images (``sandboxes/docker/Dockerfile.<lang>``) without a registry.

The Dockerfiles start ``FROM`` public images (``gcc:12-bookworm``, ``golang:1.19-bookworm``,
...) that no registry here can serve. They take the base as a build argument (``ARG
BASE_IMAGE``), so the tests give them a stand-in built from what the public image would hold:
the host's own Debian packages for the language's toolchain (found from the table's commands),
plus ``python3`` for the agent and the shell the Dockerfile's ``RUN`` steps need, with every
``Depends``/``Pre-Depends`` followed. The stand-in is made with ``docker import`` of a tar of
exactly those packages' files (documentation left out), as the Docker backend makes its
offline base; the Dockerfile then builds on it unchanged. Images are tagged by a hash of the
packages and versions they hold and of the Dockerfile, under ``codetrans-sandbox-test/`` (never
the production tags: a shared daemon would hand them to every other run in ``image_mode=auto``),
so a second build is a cache hit.

Command line (prints the image tag of each language):

    python -m tests.sandboxes.production_images c go
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sandboxes.languages import BASE_PATH, LANGUAGES, Language
from sandboxes.mounts import toolchain_mounts

DOCKERFILES = Path(__file__).resolve().parents[2] / "sandboxes" / "docker"
TEST_REPOSITORY = "codetrans-sandbox-test"
#: What every image needs besides the toolchain: the agent's interpreter (``/usr/bin/python3``
#: with the ctypes module) and the shell and tools of the Dockerfiles' ``RUN`` steps
#: (Essential packages, which no package declares as a dependency).
COMMON_PACKAGES = ("python3", "dash", "coreutils")
#: What the public base image ships beyond the toolchain's own dependencies (gcc's C library
#: headers are only a Recommends of gcc-12).
EXTRA_PACKAGES: dict[str, tuple[str, ...]] = {lang: ("libc6-dev",) for lang in ("c", "cpp", "rust")}
#: Documentation: in no runtime's way, left out of the stand-in base.
SKIPPED_PARTS = ("/share/doc/", "/share/man/", "/share/info/", "/share/locale/", "/share/lintian/")
#: Commands a toolchain runs besides those of its table entry (rustc links with ``cc``).
EXTRA_COMMANDS: dict[str, tuple[str, ...]] = {"rust": ("cc",)}
#: Empty directories every Debian base image has (``/tmp`` world-writable, sticky).
BASE_DIRS = ("tmp", "proc", "sys", "dev", "etc", "root", "home", "var", "run", "opt")
#: usr-merged top-level links: package lists name ``/bin/sh``, the image holds ``/usr/bin/sh``.
USR_MERGED = ("/bin", "/sbin", "/lib", "/lib64")
DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_INFO = "/var/lib/dpkg/info"


class NoDebianToolchain(RuntimeError):
    """The host's toolchain for a language is not a set of Debian packages; says why."""


@dataclass(frozen=True)
class _Package:
    name: str
    version: str
    arch: str
    depends: tuple[str, ...]  # "a | b (>= 1)" groups, from Pre-Depends and Depends
    provides: tuple[str, ...]


def installed_packages(status: str = DPKG_STATUS) -> dict[str, _Package]:
    """Installed packages of the host's dpkg database, by name."""
    packages = {}
    for para in Path(status).read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in para.splitlines():
            if line[:1] in (" ", "\t") and key is not None:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" not in fields or not fields.get("Status", "").endswith(" installed"):
            continue
        groups = [
            g.strip()
            for f in ("Pre-Depends", "Depends")
            for g in fields.get(f, "").split(",")
            if g.strip()
        ]
        provides = [p.split()[0] for p in fields.get("Provides", "").split(",") if p.strip()]
        packages[fields["Package"]] = _Package(
            fields["Package"],
            fields.get("Version", ""),
            fields.get("Architecture", ""),
            tuple(groups),
            tuple(provides),
        )
    return packages


def dependency_closure(seeds: list[str], packages: dict[str, _Package]) -> list[str]:
    """``seeds`` and every installed package they (transitively) depend on, sorted.

    An alternative (``a | b``) or a virtual package is satisfied by its first installed
    provider; a dependency nothing installed satisfies is an error (the host's toolchain is
    then broken, and so would the image be).
    """
    providers: dict[str, list[str]] = {}
    for pkg in packages.values():
        for virtual in pkg.provides:
            providers.setdefault(virtual, []).append(pkg.name)
    seen: set[str] = set()
    todo = list(seeds)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in packages:
            raise NoDebianToolchain(f"package {name} is not installed")
        seen.add(name)
        for group in packages[name].depends:
            for alternative in group.split("|"):
                dep = re.split(r"[\s:(]", alternative.strip(), maxsplit=1)[0]
                if dep in packages:
                    todo.append(dep)
                    break
                if dep in providers:
                    todo.append(sorted(providers[dep])[0])
                    break
            else:
                raise NoDebianToolchain(
                    f"{name} depends on {group!r}, which nothing installed satisfies"
                )
    return sorted(seen)


def _package_files(pkg: _Package) -> list[str]:
    for name in (f"{pkg.name}:{pkg.arch}.list", f"{pkg.name}.list"):
        path = Path(DPKG_INFO, name)
        if path.is_file():
            return [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    raise NoDebianToolchain(f"dpkg has no file list for {pkg.name}")


def _owner(path: str, files_of: dict[str, set[str]]) -> str | None:
    for name, files in files_of.items():
        if path in files or _unmerged(path) in files:
            return name
    return None


def _unmerged(path: str) -> str:
    """``/usr/bin/sh`` -> ``/bin/sh``: the name an older package list may use."""
    for top in USR_MERGED:
        if path.startswith("/usr" + top + "/"):
            return path[len("/usr") :]
    return path


def _merged(path: str) -> str:
    """``/bin/sh`` -> ``/usr/bin/sh``: where the file lies in a usr-merged image."""
    for top in USR_MERGED:
        if path == top or path.startswith(top + "/"):
            return "/usr" + path
    return path


@dataclass(frozen=True)
class StandIn:
    """What a stand-in base image for one language holds.

    Attributes:
        packages: Debian packages, dependencies included, whose files it holds.
        links: links no package owns on the way to a command (``update-alternatives`` links
            such as ``/usr/bin/php -> /etc/alternatives/php -> /usr/bin/php8.2``).
        trees: (host dir, image dir) toolchains installed outside the distribution, copied
            where the sandbox's offline image binds them (the table's ``mounts``: rustup's
            toolchain at ``/opt/rust``).
    """

    packages: tuple[str, ...]
    links: tuple[str, ...]
    trees: tuple[tuple[str, str], ...]


def stand_in(lang: Language, packages: dict[str, _Package]) -> StandIn:
    """The stand-in for ``lang``'s public base image, from the host: the owners of its
    commands (and of each link on the way), the extras its public base image ships, python3
    and the shell, with their dependencies; its ``mounts`` that no package owns, as trees."""
    files_of = {name: set(_package_files(pkg)) for name, pkg in packages.items()}
    seeds = set(COMMON_PACKAGES) | set(EXTRA_PACKAGES.get(lang.name, ()))
    trees = []
    for host, target in toolchain_mounts(lang):
        owner = _owner(host, files_of)
        if owner is not None and host == target:
            seeds.add(owner)
        else:
            trees.append((host, target))
    commands = {lang.version_argv[0], lang.run_argv[0], *EXTRA_COMMANDS.get(lang.name, ())}
    if lang.compile_argv:
        commands.add(lang.compile_argv[0])
    commands.discard("{exe}")
    links: set[str] = set()
    for command in sorted(commands):
        path = _host_command(command, lang, trees)
        if path is None:
            raise NoDebianToolchain(f"{lang.name}: {command} is not installed on this host")
        if any(path.startswith(host + "/") for host, _ in trees):
            continue
        for _ in range(16):  # each hop of a link chain
            owner = _owner(path, files_of)
            if owner is not None:
                seeds.add(owner)
            if not os.path.islink(path):
                break
            if owner is None:
                links.add(path)
            path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
        if owner is None:
            raise NoDebianToolchain(
                f"{lang.name}: {path} belongs to no Debian package and to "
                "none of the table's toolchain mounts"
            )
    return StandIn(
        tuple(dependency_closure(sorted(seeds), packages)), tuple(sorted(links)), tuple(trees)
    )


def _host_command(name: str, lang: Language, trees: list[tuple[str, str]]) -> str | None:
    """The host file the sandbox would run for command ``name`` on the host's /usr and the
    table's mounts (the host's own /usr/local is hidden from sandboxes, so not searched)."""
    for directory in (*lang.path, *BASE_PATH):
        if directory.startswith("/usr/local"):
            continue
        for host, target in trees:
            if directory == target or directory.startswith(target + "/"):
                directory = host + directory[len(target) :]
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _skipped(path: str) -> bool:
    return any(part in path for part in SKIPPED_PARTS)


def rootfs_entries(content: StandIn, packages: dict[str, _Package]) -> list[tuple[str, str]]:
    """(host path, path in the image) for every entry of the stand-in, parents first: the
    packages' files (usr-merged, documentation left out), the unowned links, the
    ``/etc/alternatives`` links that point into them, and the trees."""
    paths: set[str] = {_merged(link) for link in content.links}
    for name in content.packages:
        for path in _package_files(packages[name]):
            path = _merged(path)
            if path not in ("/", "/.") and not _skipped(path) and os.path.lexists(path):
                paths.add(path)
    if os.path.isdir("/etc/alternatives"):
        for entry in os.listdir("/etc/alternatives"):
            link = os.path.join("/etc/alternatives", entry)
            if os.path.islink(link) and os.path.realpath(link) in paths:
                paths.add(link)
    entries = {path: path for path in paths}
    for host, target in content.trees:
        for root, dirs, files in os.walk(host):
            dirs[:] = [d for d in dirs if not _skipped(os.path.join(root, d) + "/")]
            for name in dirs + files:
                path = os.path.join(root, name)
                if not _skipped(path + "/"):
                    entries[target + path[len(host) :]] = path
        entries[target] = host
    for path in list(entries):  # every parent directory, so the tar implies none
        parent = os.path.dirname(path)
        while parent not in ("/", "") and parent not in entries:
            entries[parent] = parent
            parent = os.path.dirname(parent)
    return sorted((host, image) for image, host in entries.items())


def write_rootfs_tar(entries: list[tuple[str, str]], out: str) -> None:
    """A tar of ``entries`` (no recursion), the base image's empty directories and the
    usr-merge links."""
    with tarfile.open(out, "w") as tar:
        for name in BASE_DIRS:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for top in USR_MERGED:
            info = tarfile.TarInfo(top.lstrip("/"))
            info.type = tarfile.SYMTYPE
            info.linkname = "usr" + top
            tar.addfile(info)
        for host, image in sorted(entries, key=lambda e: e[1]):
            if image.lstrip("/") not in BASE_DIRS:
                tar.add(host, arcname=image.lstrip("/"), recursive=False)


def _client():
    import docker

    return docker.from_env(timeout=600)


def _has_image(client, ref: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(ref)
        return True
    except ImageNotFound:
        return False


def build_production_image(language: str, client=None) -> str:
    """Build ``Dockerfile.<language>`` on a stand-in of its public base image; its tag.

    Raises :class:`NoDebianToolchain` when the host's toolchain for ``language`` is neither
    Debian packages nor one of the table's mounts, and ``docker.errors.BuildError`` when the
    Dockerfile does not build.
    """
    lang = LANGUAGES[language]
    client = client or _client()
    packages = installed_packages()
    content = stand_in(lang, packages)
    dockerfile = DOCKERFILES / f"Dockerfile.{language}"
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())  # how the stand-in is assembled
    for name in content.packages:
        digest.update(f"{name}={packages[name].version}\n".encode())
    for link in content.links:
        digest.update(f"{link} -> {os.readlink(link)}\n".encode())
    for host, target in content.trees:  # rustup names a toolchain's directory by version
        digest.update(f"{os.path.realpath(host)} -> {target}\n".encode())
    base = f"{TEST_REPOSITORY}/base-{language}:{digest.hexdigest()[:12]}"
    digest.update(dockerfile.read_bytes())
    image = f"{TEST_REPOSITORY}/{language}:{digest.hexdigest()[:12]}"
    if _has_image(client, image):
        return image
    if not _has_image(client, base):
        with tempfile.TemporaryDirectory(prefix="rootfs-") as tmp:
            tar = os.path.join(tmp, "rootfs.tar")
            write_rootfs_tar(rootfs_entries(content, packages), tar)
            repo, tag = base.rsplit(":", 1)
            client.api.import_image_from_file(tar, repository=repo, tag=tag)
    client.images.build(
        path=str(DOCKERFILES),
        dockerfile=dockerfile.name,
        tag=image,
        buildargs={"BASE_IMAGE": base},
        pull=False,
        rm=True,
        forcerm=True,
    )
    return image


def main(argv: list[str] | None = None) -> int:
    for language in (sys.argv[1:] if argv is None else argv) or ["python"]:
        print(language, build_production_image(language), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
