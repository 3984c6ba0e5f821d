"""Test a Wharf connector from plain Python, in the server's own sandbox.

The Python twin of the `wharf-harness` crate (sdk/harness): it builds a
Python connector into a component (`build`), starts `wharf dev rpc` on it
(the same runtime, grants and limits as `wharf serve`) and drives it call by
call. Requests are answered from a cassette recorded with
`wharf dev ... --record` (`Harness.replay`), from scripted answers
(`Harness.respond`), or, when neither is given, by the network the harness
was granted. Every request the connector made is kept for assertions
(`Connector.requests`). Standard library only (CPython 3.9+).

    import sys; sys.path.insert(0, "/path/to/wharf/sdk/python")
    from wharf_harness import Harness, build

    wasm = build(".", "target/my-api.wasm")          # skipped when up to date
    c = (Harness(wasm)
         .config({"base_url": "https://api.example.com"})
         .replay("cassettes/items.json")
         .start())
    records = c.fetch_all("items")
    assert records[0]["key"] == "1"
    c.finish()  # no request differed from the cassette

A call that fails raises `CallError` with the contract's kind (`config`,
`auth`, `auth-expired`, `rate-limited`, `transient`, `fatal`, `unsupported`,
`limit`, `trap`, `replay`, ...) or `harness` (the session itself failed) or
`build`. The `wharf` binary is `$WHARF` (a path), else `wharf` on `PATH`.
"""
from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Optional, Union

__all__ = ["CallError", "Harness", "Connector", "Request", "build", "record", "wharf_binary",
           "REJECTED_STREAM"]

SDK_DIR = Path(__file__).resolve().parent  # <repo>/sdk/python
REPO = SDK_DIR.parent.parent
BUILD_PY = SDK_DIR / "build.py"

#: The stream of a mapper's output record that refuses an input record.
REJECTED_STREAM = "wharf:rejected"

#: Seconds a call may take before the harness gives up (the first call of a
#: session may compile the component: about 10 s on one core, more when busy).
DEFAULT_TIMEOUT = 300.0

PathLike = Union[str, "os.PathLike[str]"]


class CallError(Exception):
    """How a call failed: `kind` (machine-readable) and `message` (for a person)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return f"error[{self.kind}]: {self.message}"


def _harness_error(message: str) -> CallError:
    return CallError("harness", message)


def wharf_binary() -> str:
    """The `wharf` to run: `$WHARF`, else `wharf` on `PATH`."""
    return os.environ.get("WHARF") or shutil.which("wharf") or "wharf"


def build(app_dir: PathLike, out: Optional[PathLike] = None, *,
          toolchain: Optional[PathLike] = None, quiet: bool = True) -> Path:
    """Build the Python connector in `app_dir` (its `app.py`) into a component
    with sdk/python/build.py and give the path of the `.wasm`.

    `out` defaults to `<app_dir>/target/<app_dir name>.wasm`; a relative `out`
    is taken from the current directory. The build is skipped when `out` is
    newer than every input. `toolchain` is build.py's `--toolchain` (default:
    `$WHARF_PYTHON_TOOLCHAIN`, else build.py's own, `<repo>/target/python-toolchain`).
    Raises `CallError("build", <build.py's output>)` when the build fails.
    """
    app = Path(app_dir).resolve()
    target = Path(out).resolve() if out is not None else app / "target" / f"{app.name}.wasm"
    cmd = [sys.executable, str(BUILD_PY), str(app), str(target)]
    toolchain = toolchain or os.environ.get("WHARF_PYTHON_TOOLCHAIN")
    if toolchain:
        cmd += ["--toolchain", str(Path(toolchain).resolve())]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise CallError("build", f"{' '.join(cmd)} failed (exit {p.returncode}):\n"
                                 f"{p.stdout.strip()}")
    if not quiet and p.stdout.strip():
        sys.stderr.write(p.stdout)
    if not target.is_file():
        raise CallError("build", f"build.py wrote no {target}")
    return target


def _key_text(key: Any) -> Optional[str]:
    if key is None or isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return json.dumps(key) if isinstance(key, (dict, list)) else str(key)


def record(stream: str, data: dict, key: Any = None, op: str = "upsert") -> dict:
    """A record as the contract carries it: `{"stream", "key", "op", "data"}`
    (`key` turned into text like the SDK does; `op` is "upsert" or "delete")."""
    if not isinstance(data, dict):
        raise TypeError(f"record data must be a dict, not {type(data).__name__}")
    return {"stream": stream, "key": _key_text(key), "op": op, "data": data}


def _records(records: Iterable[Any]) -> list[dict]:
    out = []
    for r in records:
        if not isinstance(r, dict) or "stream" not in r or "data" not in r:
            raise TypeError(f"not a record (use wharf_harness.record(...)): {r!r}")
        out.append({"stream": r["stream"], "key": _key_text(r.get("key")),
                    "op": r.get("op") or "upsert", "data": r["data"]})
    return out


class Request(dict):
    """A request the connector sent, as it wrote it (placeholders, not secrets):
    a dict with `method`, `url`, `headers` (`[[name, value], ...]`) and `body`
    (`{"text": ...}`, `{"base64": ...}` or absent), plus helpers."""

    @property
    def method(self) -> str:
        return self.get("method", "")

    @property
    def url(self) -> str:
        return self.get("url", "")

    def header(self, name: str) -> Optional[str]:
        """The value of header `name` (any case), or None."""
        for k, v in self.get("headers") or []:
            if k.lower() == name.lower():
                return v
        return None

    def body_text(self) -> Optional[str]:
        """The body as text, if it was text."""
        body = self.get("body")
        return body.get("text") if isinstance(body, dict) else None

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when there is none or it is not JSON)."""
        text = self.body_text()
        if text is None:
            raise ValueError(f"{self.method} {self.url} has no text body")
        return json.loads(text)


class Harness:
    """A connector to start: component, config, secrets, grants, and where its
    requests are answered. Every setter returns the harness, for chaining."""

    def __init__(self, wasm: PathLike) -> None:
        self._secret_env: dict = {}
        self.wasm = Path(wasm)
        self._config: Optional[Any] = None
        self._args: list[str] = []
        self._script: list[dict] = []
        self._timeout = DEFAULT_TIMEOUT

    def config(self, config: Any) -> "Harness":
        """The connection's config (a dict, sent as JSON). Left unset with
        `replay`, the cassette's config is used."""
        self._config = config
        return self

    def secret(self, name: str, value: str) -> "Harness":
        """A secret of the connection (filled into requests by the host; the
        connector never sees it). `env:VAR` and `@file` work as in `wharf dev`."""
        # Through the environment of `wharf dev rpc`, not its command line
        # (which other users of the machine can read).
        var = f"WHARF_HARNESS_SECRET_{len(self._secret_env)}"
        self._secret_env[var] = value
        self._args += ["--secret", f"{name}=env:{var}"]
        return self

    def allow_host(self, pattern: str) -> "Harness":
        """Grant a host pattern besides the spec's."""
        self._args += ["--allow-host", pattern]
        return self

    def allow_network(self, cidr: str) -> "Harness":
        """Allow a blocked network (`127.0.0.0/8` for a server in the test)."""
        self._args += ["--allow-network", cidr]
        return self

    def oauth_token(self, token: str) -> "Harness":
        """An OAuth2 access token for `{{oauth:access_token}}`."""
        self._args += ["--oauth-token", token]
        return self

    def replay(self, cassette: PathLike) -> "Harness":
        """Answer requests from this cassette (recorded with `wharf dev ... --record`);
        `Connector.finish` fails on the first difference."""
        self._args += ["--replay", str(cassette)]
        return self

    def record(self, cassette: PathLike) -> "Harness":
        """Record the session in this cassette (on the network the harness was
        granted, or from the scripted answers); written when the session ends."""
        self._args += ["--record", str(cassette)]
        return self

    def respond(self, method: str, url: str, status: int, body: Any = None) -> "Harness":
        """Answer `method url` (a URL ending in `*` is a prefix) with `status` and
        `body` as JSON; the first scripted answer that fits is used."""
        return self.respond_with(method, url, status, [("content-type", "application/json")],
                                 json.dumps(body))

    def respond_with(self, method: str, url: str, status: int,
                     headers: Iterable[tuple[str, str]] = (), body: str = "") -> "Harness":
        """Answer `method url` with `status`, `headers` and a text `body`."""
        self._script.append({
            "method": method, "url": url,
            "outcome": {"response": {"status": status,
                                     "headers": [[k, v] for k, v in headers],
                                     "body": {"text": body}}},
        })
        return self

    def arg(self, *args: str) -> "Harness":
        """More arguments for `wharf dev rpc` (e.g. `"--no-cache"`)."""
        self._args += list(args)
        return self

    def timeout(self, seconds: float) -> "Harness":
        """How long one call may take before the harness gives up (default 300 s)."""
        self._timeout = seconds
        return self

    def start(self) -> "Connector":
        """Start `wharf dev rpc` on the component."""
        wharf = wharf_binary()
        cmd = [wharf, "dev", "rpc", str(self.wasm)]
        if self._config is not None:
            cmd += ["--config", json.dumps(self._config)]
        cmd += self._args
        script_file = None
        if self._script:
            fd, script_file = tempfile.mkstemp(prefix="wharf-harness-", suffix=".json")
            with os.fdopen(fd, "w") as f:
                json.dump(self._script, f)
            cmd += ["--script", script_file]
        # wharf writes log lines to standard error as they come: kept in a
        # file (Connector.stderr()) and quoted when the session fails.
        stderr = tempfile.TemporaryFile(prefix="wharf-harness-stderr-")
        try:
            child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stderr, env={**os.environ, **self._secret_env})
        except OSError as e:
            stderr.close()
            if script_file:
                os.unlink(script_file)
            raise _harness_error(f"cannot start `{wharf}` ({e}); set WHARF to the wharf binary")
        return Connector(child, stderr, script_file, self._timeout)


class Connector:
    """A running connector session (`Harness.start()`). Also a context
    manager: leaving the `with` ends the session (without `finish`'s check)."""

    def __init__(self, child: subprocess.Popen, stderr: Any, script_file: Optional[str],
                 timeout: float) -> None:
        self._child = child
        self._stderr = stderr
        self._script_file = script_file
        self._timeout = timeout
        self._buf = b""
        self._closed = False

    # -- the protocol -------------------------------------------------------

    def _read_line(self) -> bytes:
        out = self._child.stdout
        assert out is not None
        fd = out.fileno()
        deadline = time.monotonic() + self._timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.close()
                    raise _harness_error(f"wharf dev rpc answered nothing in {self._timeout:g} s"
                                         f"{self._stderr_tail()}")
                chunk = os.read(fd, 65536)
                if not chunk:
                    line, self._buf = self._buf, b""
                    return line
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line + b"\n"

    def call(self, request: dict) -> Any:
        """Send one request line (`{"op": ...}`) and give the answer's `ok` value;
        raises `CallError` for an `error` answer."""
        if self._closed or self._child.stdin is None:
            raise _harness_error("the session is finished")
        try:
            self._child.stdin.write((json.dumps(request) + "\n").encode())
            self._child.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            code = self._child.poll()
            raise _harness_error(f"wharf dev rpc stopped ({e}; exit {code}){self._stderr_tail()}")
        line = self._read_line()
        if not line.strip():
            code = self._child.wait()
            raise _harness_error(f"wharf dev rpc ended (exit {code}){self._stderr_tail()}")
        try:
            answer = json.loads(line)
        except ValueError as e:
            raise _harness_error(f"wharf dev rpc answered `{line!r}`: {e}")
        if isinstance(answer, dict) and "error" in answer:
            err = answer["error"]
            if isinstance(err, dict):
                raise CallError(str(err.get("kind", "unknown")), str(err.get("message", "")))
            raise _harness_error(json.dumps(err))
        if not isinstance(answer, dict) or "ok" not in answer:
            raise _harness_error(f"unexpected answer `{line!r}`")
        return answer["ok"]

    # -- the connector's functions -----------------------------------------

    def check(self) -> None:
        """`check` the config (and credentials)."""
        self.call({"op": "check"})

    def discover(self) -> list:
        """The streams the connection offers (`discover`), as JSON."""
        return self.call({"op": "discover"})

    def fetch(self, stream: str, cursor: Optional[str] = None) -> dict:
        """One page of `stream` after `cursor`:
        `{"records": [...], "cursor", "more", "row_errors"}`."""
        page = self.call({"op": "fetch", "stream": stream, "cursor": cursor})
        page.setdefault("cursor", None)
        page.setdefault("more", False)
        page.setdefault("row_errors", [])
        return page

    def fetch_all(self, stream: str, max_pages: int = 10_000) -> list:
        """Every record of `stream`, from the start, following cursors while `more`."""
        cursor: Optional[str] = None
        records: list = []
        for _ in range(max_pages):
            page = self.fetch(stream, cursor)
            records.extend(page["records"])
            if not page["more"]:
                return records
            cursor = page["cursor"] if page["cursor"] is not None else cursor
        raise _harness_error(f"`{stream}` still had more after {max_pages} pages")

    def map(self, records: Iterable[Any]) -> list:
        """`map` records (dicts as made by `record(...)`); gives the output records."""
        return self.call({"op": "map", "records": _records(records)})

    def push(self, records: Iterable[Any]) -> dict:
        """`push` records: `{"created", "updated", "deleted", "rejected": [{index, field, message}]}`."""
        return self.call({"op": "push", "records": _records(records)})

    def receive(self, headers: Iterable[tuple[str, str]] = (), body: str = "", *,
                method: str = "POST", query: Iterable[tuple[str, str]] = ()) -> list:
        """A webhook delivery (`receive`); gives the records it became."""
        return self.call({"op": "receive", "method": method,
                          "headers": [[k, v] for k, v in headers],
                          "query": [[k, v] for k, v in query], "body": body})

    def requests(self) -> list:
        """Every request the connector sent so far (`Request`s)."""
        return [Request(r) for r in self.call({"op": "requests"})]

    def logs(self) -> list:
        """Log lines since the last call of this (level, source, message)."""
        return self.call({"op": "logs"})

    def finish(self) -> None:
        """End the session: raises `CallError("replay", ...)` with the first difference
        from the cassette (or a request no scripted answer fitted), if there was one;
        a recorded cassette is written now."""
        error: Optional[CallError] = None
        try:
            self.call({"op": "finish"})
        except CallError as e:
            error = e
        code = self.close()
        if error is not None:
            raise error
        if code != 0:
            raise _harness_error(f"wharf dev rpc ended with exit {code}{self._stderr_tail()}")

    # -- the process ------------------------------------------------------

    def stderr(self) -> str:
        """What `wharf dev rpc` wrote to standard error so far (its log lines)."""
        try:
            self._stderr.flush()
            self._stderr.seek(0)
            return self._stderr.read().decode("utf-8", errors="replace")
        except (ValueError, OSError):  # closed
            return ""

    def _stderr_tail(self, lines: int = 20) -> str:
        text = self.stderr().rstrip()
        if not text:
            return ""
        return "\n--- wharf dev rpc standard error (last lines) ---\n" + \
            "\n".join(text.splitlines()[-lines:])

    def close(self) -> Optional[int]:
        """End the session (standard input closed, the process waited for) and give
        its exit code. `finish` does this; so does leaving a `with` block."""
        if self._closed:
            return self._child.returncode
        self._closed = True
        try:
            if self._child.stdin:
                self._child.stdin.close()
        except OSError:
            pass
        try:
            code = self._child.wait(timeout=self._timeout)
        except subprocess.TimeoutExpired:
            self._child.kill()
            code = self._child.wait()
        if self._child.stdout:
            self._child.stdout.close()
        if self._script_file:
            try:
                os.unlink(self._script_file)
            except OSError:
                pass
            self._script_file = None
        return code

    def __enter__(self) -> "Connector":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
        self._stderr.close()

    def __del__(self) -> None:
        try:
            self.close()
            self._stderr.close()
        except Exception:
            pass
