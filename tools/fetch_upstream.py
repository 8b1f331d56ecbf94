"""Fill the upstream-data cache (.upstream-cache/) from upstream.lock.json, or check data against it.

    python -m tools.fetch_upstream          # download every locked file (needs network), verify sha256
    python -m tools.fetch_upstream --check  # offline: every locked file the resolver finds matches its sha256

A file is fetched from https://raw.githubusercontent.com/<repository>/<ref>/<path> at the pinned
ref. Files locked with ``transform: strip-template-lines`` are Helm templates (Argo CD's CRDs):
their lines with template directives and their blank lines are removed before hashing, the form the
tests read. A file whose hash differs from the lock is refused and not written.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.upstream import CACHE_DIR, UpstreamDataMissingError, lock, upstream_file

RAW = "https://raw.githubusercontent.com"


def normalized(data: bytes, spec: dict[str, Any]) -> bytes:
    if spec.get("transform") == "strip-template-lines":
        lines = data.decode().splitlines()
        return "".join(f"{line}\n" for line in lines if "{{" not in line and line.strip()).encode()
    return data


def digest(data: bytes, spec: dict[str, Any]) -> str:
    return hashlib.sha256(normalized(data, spec)).hexdigest()


def url_of(entry: dict[str, Any], spec: dict[str, Any]) -> str:
    return f"{RAW}/{entry['repository']}/{entry['ref']}/{spec['path']}"


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def fetch(target: Path = CACHE_DIR, get: Callable[[str], bytes] = download) -> list[str]:
    """Download every locked file into ``target``; returns the problems (empty when all matched)."""
    problems = []
    for key, entry in lock().items():
        for local, spec in entry["files"].items():
            url = url_of(entry, spec)
            try:
                data = get(url)
            except OSError as exc:
                problems.append(f"{key}: {local}: cannot download {url} ({exc})")
                continue
            if digest(data, spec) != spec["sha256"]:
                problems.append(f"{key}: {local}: {url} does not match the lock's sha256; not written")
                continue
            path = target / local
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(normalized(data, spec))
    return problems


def check() -> list[str]:
    """Every locked file the resolver finds, against the lock (offline)."""
    problems = []
    for key, entry in lock().items():
        for local, spec in entry["files"].items():
            folder, name = local.split("/", 1)
            try:
                path = upstream_file(folder, name)
            except UpstreamDataMissingError as exc:
                problems.append(str(exc))
                continue
            if digest(path.read_bytes(), spec) != spec["sha256"]:
                problems.append(f"{key}: {path} differs from the lock (new data needs a new lock entry)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fetch_upstream", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the data the resolver finds (offline)")
    args = parser.parse_args(argv)
    problems = check() if args.check else fetch()
    for problem in problems:
        print(problem, file=sys.stderr)
    files = sum(len(e["files"]) for e in lock().values())
    done = "match" if args.check else f"fetched into {CACHE_DIR}"
    print(f"{files - len(problems)} of {files} locked files {done}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
