"""Real server processes for end-to-end and browser tests."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from tests.conftest import SECRET, SHOP, sign

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def config_toml(
    issuer: str,
    *,
    shop: str = "acme.myshopify.com",
    origins: list[str] | None = None,
    extra_shop: str = "",
    extra: str = "",
) -> str:
    origin_list = ", ".join(f'"{origin}"' for origin in origins or [])
    return f"""
issuer = "{issuer}"
token_ttl = 900
signing_key_dir = "keys"
{extra}
[rate_limits]
per_customer = "1000/minute"
per_client = "1000/minute"
per_ip = "10000/minute"

[shops."{shop}"]
id_secrets = ["env:SHOP_ID_SECRET"]
allowed_origins = [{origin_list}]
{extra_shop}
"""


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    config: Path
    env: dict[str, str] = field(repr=False)
    log: Path = field(repr=False)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text()

    def output(self) -> str:
        return self.log.read_text()


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants, parents first (Linux ``/proc``)."""
    tree = [root]
    for pid in tree:  # grows as children are found; a process tree is finite
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                tree.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue  # it exited meanwhile
    return tree


def cpu_seconds(root: int) -> float:
    """User + system CPU that ``root`` and its descendants have used so far."""
    ticks = 0
    for pid in process_tree(root):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = stat.rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_of(pid: int) -> int | None:
    """Resident memory of one process in bytes, or None once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def server_env(config: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    values = {
        **os.environ,
        "SHAPESTOKEN_CONFIG": str(config),
        "SHOP_ID_SECRET": SECRET,
        "PYTHONUNBUFFERED": "1",
    }
    values.pop("SHAPESTOKEN_SIGNING_KEYS", None)
    values.update(env or {})
    return values


def shapestoken(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start_server(
    directory: Path,
    config_text: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    generate_key: bool = True,
    workers: int = 1,
    wait: bool = True,
    app: str = "service.asgi:app",
    options: tuple[str, ...] = (),
) -> Server:
    """Write a config, create a key, start uvicorn on ``app`` and wait for it.

    ``app`` is the service unless a benchmark starts one of its peers with the same flags;
    ``options`` are more uvicorn command-line options (``--log-config``, say).
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    config = directory / "shapestoken.toml"
    config.write_text(config_text if config_text is not None else config_toml(url))
    values = server_env(config, env)
    if generate_key:
        result = shapestoken("keys", "generate", env=values)
        assert result.returncode == 0, result.stderr
    log = directory / f"server-{port}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                # As `shapestoken serve`: no WebSockets (an upgrade is plain HTTP, so
                # its URL and query string are never logged).
                "--ws",
                "none",
                "--no-proxy-headers",  # the app reads X-Forwarded-For itself
                "--workers",
                str(workers),
                *options,
            ],
            env=values,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
    server = Server(url, process, config, values, log)
    if wait:
        wait_ready(server)
    return server


def wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.output()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become ready:\n{server.output()}")


def verify(token: str, server: Server) -> dict[str, Any]:
    """What a downstream API does: the JWKS, the key by kid, a full verification."""
    jwks_client = jwt.PyJWKClient(f"{server.url}/.well-known/jwks.json")
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        signing_key.key,
        algorithms=["ES256"],
        audience=server.url,
        issuer=server.url,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )
    return claims


def start_dev_server(directory: Path) -> Server:
    """``shapestoken serve`` with no config in ``directory``: the development default."""
    port = free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("SHAPESTOKEN_CONFIG", "SHAPESTOKEN_SIGNING_KEYS")
    }
    env["PYTHONUNBUFFERED"] = "1"
    log = directory / "serve.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(port)],
            cwd=directory,  # no ./shapestoken.toml here: the development default
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, directory / "shapestoken.toml", env, log)
    wait_ready(server)
    return server


def procfile_web() -> str:
    """The ``web:`` command of the Procfile, as a platform reads it."""
    (web,) = [
        line.split(":", 1)[1].strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    ]
    return web


def start_procfile(
    directory: Path, config_text: str, *, port: int, env: Mapping[str, str] | None = None
) -> Server:
    """The Procfile's ``web:`` command, run as a platform runs it: through a shell,
    with ``PORT`` set, from the checkout, with the venv's scripts on ``PATH``."""
    config = directory / "shapestoken.toml"
    config.write_text(config_text)
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    env = server_env(config, {**(env or {}), "PORT": str(port), "PATH": path})
    result = shapestoken("keys", "generate", env=env)
    assert result.returncode == 0, result.stderr
    log = directory / f"procfile-{port}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            ["bash", "-c", f"exec {procfile_web()}"],
            env=env,
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, config, env, log)
    wait_ready(server)
    return server


# -- requests to a server, each on a fresh connection ------------------------------------

#: A response: status, lower-case headers, the body (parsed when it is JSON).
Response = tuple[int, dict[str, str], Any]
MINT = f"/v1/shops/{SHOP}/customer-token"


def request(
    server: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: status, lower-case headers, the raw body."""
    parts = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        found = {name.lower(): value for name, value in response.getheaders()}
        return response.status, found, response.read()
    finally:
        conn.close()


def call(
    server: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """:func:`request`, with a JSON body parsed and any other decoded."""
    status, found, raw = request(server, method, path, body, headers)
    is_json = found.get("content-type", "").startswith("application/json")
    return status, found, json.loads(raw) if is_json else raw.decode()


def get(server: Server, path: str, headers: Mapping[str, str] | None = None) -> Response:
    return call(server, "GET", path, headers=headers)


def mint(server: Server, customer_id: str = "42") -> Response:
    """POST a validly signed customer id to the test shop's customer-token endpoint."""
    body = json.dumps({"id": customer_id, "signature": sign(customer_id)}).encode()
    return call(server, "POST", MINT, body, {"Content-Type": "application/json"})


def minted(server: Server, customer_id: str = "42") -> dict[str, Any]:
    """:func:`mint`'s token body, which must be a 200 that no cache keeps."""
    status, headers, body = mint(server, customer_id)
    assert status == 200, body
    assert headers["cache-control"] == "no-store"
    result: dict[str, Any] = body
    return result
