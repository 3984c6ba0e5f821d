#!/usr/bin/env python3
"""Build a Python connector into a Wharf component.

    python3 sdk/python/build.py <app_dir> <out.wasm> [--toolchain DIR]

`<app_dir>` holds `app.py`, whose class `Connector` (a `wharf_sdk.Connector`)
implements the connector. The first run creates a venv with
componentize-py (pinned below) in the toolchain directory (default
`<repo>/target/python-toolchain`); later runs reuse it. The component targets
the world `sandboxed-connector` of `<repo>/wit/0.2.0`, with `sdk/python`
(the `wharf_sdk` package) and `<app_dir>` on the Python path; it imports
`wharf:pages` (`<repo>/wit/pages-0.1.0`, the host's page slicing) and
`wasi:http/outgoing-handler` too (so `urllib.request` works, see
`wharf_sdk/wasi_http.py`) when the WIT of wasi:http is found: it is taken from
the `wasmtime-wasi-http` crate Wharf is built with (in cargo's registry once
Wharf was built or `cargo fetch` ran); without it the build goes on without
wasi:http and says so.

The build is skipped when `<out.wasm>` is newer than every input: the `.py`
files under `<app_dir>` and `sdk/python`, and the WIT files. Exits non-zero,
with componentize-py's message, when the build fails.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

COMPONENTIZE_PY = "0.25.1"
WORLD = "sandboxed-connector"

SDK_DIR = Path(__file__).resolve().parent  # <repo>/sdk/python
REPO = SDK_DIR.parent.parent
WIT_DIR = REPO / "wit" / "0.2.0"
PAGES_WIT_DIR = REPO / "wit" / "pages-0.1.0"


def wasi_http_wit() -> Path | None:
    """The `wit/deps` of the wasmtime-wasi-http crate in Cargo.lock, if cargo
    has its source."""
    lock = REPO / "Cargo.lock"
    if not lock.is_file():
        return None
    text = lock.read_text()
    marker = 'name = "wasmtime-wasi-http"\nversion = "'
    at = text.find(marker)
    if at < 0:
        return None
    version = text[at + len(marker):].split('"', 1)[0]
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    for deps in sorted(home.glob(f"registry/src/*/wasmtime-wasi-http-{version}/wit/deps")):
        if (deps / "http.wit").is_file():
            return deps
    return None


def wit_dir(work: Path) -> tuple[Path, str]:
    """The WIT directory and world to build against: the contract, the
    host's page slicing (`wharf:pages`, see `wharf_sdk.stage_records`), and
    wasi:http's outgoing handler when its WIT is found."""
    deps = wasi_http_wit()
    shutil.rmtree(work, ignore_errors=True)
    for name, src in (("wharf-connector", WIT_DIR), ("wharf-pages", PAGES_WIT_DIR)):
        (work / "deps" / name).mkdir(parents=True)
        for f in src.glob("*.wit"):
            shutil.copy(f, work / "deps" / name / f.name)
    http = ""
    if deps is None:
        print("build.py: note: the WIT of wasi:http was not found (run `cargo fetch` in the "
              "Wharf repository); building without it, so urllib.request cannot reach the network",
              flush=True)
    else:
        version = (deps / "http.wit").read_text().split("package wasi:http@", 1)[1].split(";", 1)[0]
        for f in deps.glob("*.wit"):
            shutil.copy(f, work / "deps" / f.name)
        http = f"  import wasi:http/outgoing-handler@{version};\n"
    (work / "world.wit").write_text(
        "package wharf:python-connector;\n\n"
        "/// A Python connector: the contract, the host's page slicing and\n"
        "/// wasi:http's outgoing requests.\n"
        "world python-connector {\n"
        f"  include wharf:connector/{WORLD}@0.2.0;\n"
        "  import wharf:pages/pages@0.1.0;\n"
        f"{http}"
        "}\n")
    return work, "python-connector"


def inputs(app_dir: Path) -> list[Path]:
    """Every file the component is built from."""
    files: list[Path] = []
    for root in (app_dir, SDK_DIR):
        for p in root.rglob("*.py"):
            if "__pycache__" not in p.parts:
                files.append(p)
    files.extend(p for d in (WIT_DIR, PAGES_WIT_DIR) for p in d.rglob("*.wit"))
    files.append(REPO / "Cargo.lock")  # which wasi:http
    return files


def pycaches(app_dir: Path) -> set[Path]:
    return {p for root in (app_dir, SDK_DIR) for p in root.rglob("__pycache__")}


def up_to_date(out: Path, files: list[Path]) -> bool:
    if not out.exists():
        return False
    built = out.stat().st_mtime
    return all(f.stat().st_mtime < built for f in files)


def toolchain(dir_: Path) -> Path:
    """The componentize-py executable, installing it into `dir_/venv` once."""
    venv = dir_ / "venv"
    exe = venv / "bin" / "componentize-py"
    marker = venv / f".componentize-py-{COMPONENTIZE_PY}"
    if marker.exists() and exe.exists():
        return exe
    dir_.mkdir(parents=True, exist_ok=True)
    # One installer at a time (parallel builds share the toolchain).
    with open(dir_ / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and exe.exists():
            return exe
        print(f"build.py: installing componentize-py=={COMPONENTIZE_PY} into {venv}", flush=True)
        t = time.monotonic()
        if venv.exists():
            shutil.rmtree(venv)
        run([sys.executable, "-m", "venv", str(venv)], "creating the venv")
        run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             f"componentize-py=={COMPONENTIZE_PY}"], "installing componentize-py")
        marker.touch()
        print(f"build.py: toolchain ready in {time.monotonic() - t:.1f} s", flush=True)
    return exe


def run(cmd: list[str], what: str) -> None:
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout)
        sys.exit(f"build.py: {what} failed (exit {p.returncode}): {' '.join(cmd)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("app_dir", type=Path, help="directory with app.py")
    ap.add_argument("out", type=Path, help="component to write (.wasm)")
    ap.add_argument("--toolchain", type=Path, default=REPO / "target" / "python-toolchain",
                    help="where the componentize-py venv lives (default: %(default)s)")
    args = ap.parse_args()
    app_dir: Path = args.app_dir.resolve()
    out: Path = args.out.resolve()
    if not (app_dir / "app.py").is_file():
        sys.exit(f"build.py: no app.py in {app_dir}")

    files = inputs(app_dir)
    if up_to_date(out, files):
        print(f"build.py: {out} is up to date ({len(files)} inputs), nothing to do")
        return

    exe = toolchain(args.toolchain.resolve())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    wit, world = wit_dir(args.toolchain.resolve() / f"wit-{os.getpid()}")
    cmd = [str(exe), "-q", "-d", str(wit), "-w", world, "componentize",
           "-p", str(SDK_DIR), "-p", str(app_dir), "-o", str(tmp), "app"]
    print(f"build.py: componentizing {app_dir} -> {out}", flush=True)
    t = time.monotonic()
    # No bytecode caches in the source tree; no user site-packages in the bundle.
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1",
               RUST_BACKTRACE="0", RUST_LIB_BACKTRACE="0")
    env.pop("VIRTUAL_ENV", None)
    caches_before = pycaches(app_dir)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           cwd=app_dir, env=env)
    finally:
        if wit != WIT_DIR:
            shutil.rmtree(wit, ignore_errors=True)
        # componentize-py's pre-initialisation writes __pycache__ into the
        # source folders; remove the ones this build created.
        for d in pycaches(app_dir) - caches_before:
            shutil.rmtree(d, ignore_errors=True)
    if p.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        sys.stderr.write(p.stdout.split("\nStack backtrace:")[0].rstrip() + "\n")
        sys.exit(f"build.py: componentize-py failed (exit {p.returncode})")
    os.replace(tmp, out)
    size = out.stat().st_size
    print(f"build.py: wrote {out} ({size / 1e6:.1f} MB) in {time.monotonic() - t:.1f} s")


if __name__ == "__main__":
    main()
