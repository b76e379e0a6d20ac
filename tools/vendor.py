"""Refresh the vendored front-end files from the npm registry (`make vendor`): htmx in
app/static/vendor/ (served to the pages), axe-core in tests/browser/vendor/ (loaded by the browser
tests only, never served).

Each package is fetched at the exact version package-lock.json pins (`npm pack`, through npm's own
registry and certificate settings), its tarball is checked against the lock file's `integrity`
(SHA-512) before anything is unpacked, and the one file the pages need is copied out. VENDOR.json
beside the files records each file's package, version, the tarball's integrity and the file's
SHA-256, so the committed files can be checked without the network (`--check`, and the tests).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "package-lock.json"
VENDOR = ROOT / "app" / "static" / "vendor"
MANIFEST = VENDOR / "VENDOR.json"
TEST_VENDOR = ROOT / "tests" / "browser" / "vendor"

# file served under /static/vendor/ -> (npm package, path inside its tarball)
FILES = {
    "htmx.min.js": ("htmx.org", "package/dist/htmx.min.js"),
    "ws.js": ("htmx-ext-ws", "package/dist/ws.js"),
}
# files only the browser tests load (accessibility checks), kept out of the served static folder
TEST_FILES = {
    "axe.min.js": ("axe-core", "package/axe.min.js"),
}
GROUPS = ((VENDOR, FILES), (TEST_VENDOR, TEST_FILES))


def locked(package: str) -> tuple[str, str]:
    """(version, integrity) of `package` as package-lock.json pins it."""
    entry = json.loads(LOCK.read_text(encoding="utf-8"))["packages"][f"node_modules/{package}"]
    return entry["version"], entry["integrity"]


def sri(data: bytes, algorithm: str = "sha512") -> str:
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def fetch() -> None:
    for folder, files in GROUPS:
        _fetch(folder, files)


def _fetch(folder: Path, files: dict[str, tuple[str, str]]) -> None:
    manifest: dict[str, dict[str, str]] = {}
    contents: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (package, member) in files.items():
            version, integrity = locked(package)
            out = subprocess.run(
                ["npm", "pack", f"{package}@{version}", "--json", "--pack-destination", tmp, "--loglevel=error"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            tarball = Path(tmp) / json.loads(out)[0]["filename"]
            data = tarball.read_bytes()
            algorithm = integrity.split("-", 1)[0]
            if sri(data, algorithm) != integrity:
                sys.exit(f"{package}@{version}: the tarball does not match package-lock.json's integrity; stopped")
            with tarfile.open(tarball) as archive:
                extracted = archive.extractfile(member)
                if extracted is None:
                    sys.exit(f"{package}@{version} has no {member}")
                content = extracted.read()
            contents[name] = content
            manifest[name] = {
                "package": package,
                "version": version,
                "integrity": integrity,
                "sha256": hashlib.sha256(content).hexdigest(),
            }
            print(f"{name}: {package}@{version} (integrity checked)")
    # Only when every package checked out is anything written.
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        (folder / name).write_bytes(content)
    (folder / "VENDOR.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def problems() -> list[str]:
    """What is wrong with the committed files (empty when they match the lock file and VENDOR.json)."""
    found = []
    for folder, files in GROUPS:
        found.extend(_problems(folder, files))
    return found


def _problems(folder: Path, files: dict[str, tuple[str, str]]) -> list[str]:
    manifest_file = folder / "VENDOR.json"
    if not manifest_file.is_file():
        return [f"{manifest_file} is missing (run `make vendor`)"]
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    found = []
    for name, (package, _member) in files.items():
        entry = manifest.get(name)
        if entry is None:
            found.append(f"{name} is not in VENDOR.json")
            continue
        version, integrity = locked(package)
        if (entry["package"], entry["version"], entry["integrity"]) != (package, version, integrity):
            found.append(f"{name} is {entry['package']}@{entry['version']}, the lock file pins {package}@{version}")
        file = folder / name
        if not file.is_file():
            found.append(f"{file} is missing")
        elif hashlib.sha256(file.read_bytes()).hexdigest() != entry["sha256"]:
            found.append(f"{file} differs from the file VENDOR.json records (edited by hand?)")
    return found


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        errors = problems()
        for line in errors:
            print(line, file=sys.stderr)
        sys.exit(1 if errors else 0)
    fetch()
    errors = problems()
    if errors:
        sys.exit("\n".join(errors))
