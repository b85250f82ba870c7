"""A local stand-in for the Docker Engine API, for `airflow dags test` here.

This machine has the docker client but no Docker engine, so the DAG tests
point Airflow's DockerOperator at this server instead. It speaks the part of
the Engine API that docker-py uses to run a container (version and ping,
image lookup, create, inspect, attach, start, wait, stop, remove) and runs
each "container" as a local process:

- the image's ENTRYPOINT, WORKDIR and ENV come from its Dockerfile (the test
  passes them in), its command from the create request, as Docker would
  combine them;
- container paths map to host paths: a volume mount's target to a directory
  per volume, and the image's own files (e.g. /app) to the project checkout;
- stdout and stderr go back over attach in Docker's multiplexed frames.

Every create request is appended, as received, to the record file, so the
test can check what Airflow asked Docker for (image, command, environment,
mounts, network). Run: python local_docker_engine.py CONFIG.json
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socketserver
import struct
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

API_VERSION = "1.45"


class Container:
    """One created container: its request, and its process once started."""

    def __init__(self, request: dict, config: dict) -> None:
        self.id = uuid.uuid4().hex
        self.request = request
        self.config = config
        self.process: subprocess.Popen | None = None
        self.started = threading.Event()
        self.output: queue.Queue = queue.Queue()
        self.status: int | None = None
        self.exited = threading.Event()

    def host_path(self, path: str) -> str:
        """A container path on the host: mounts first, then the image's files."""
        mapping = [
            (mount["Target"], os.path.join(self.config["volumes_dir"], mount["Source"]))
            for mount in self.request.get("HostConfig", {}).get("Mounts") or []
        ] + [tuple(pair) for pair in self.config["paths"]]
        for target, host in sorted(mapping, key=lambda pair: -len(pair[0])):
            if path == target or path.startswith(target.rstrip("/") + "/"):
                return host + path[len(target):]
        return path

    def start(self) -> None:
        image = self.config["images"][self.request["Image"]]
        entrypoint = self.request.get("Entrypoint") or image["entrypoint"]
        command = self.request.get("Cmd") or image.get("cmd") or []
        argv = [self.host_path(arg) for arg in [*entrypoint, *command]]
        argv[0] = self.config["programs"].get(argv[0]) or shutil.which(argv[0]) or argv[0]
        env = {name: os.environ[name] for name in self.config["host_env"] if name in os.environ}
        for name, value in image.get("env", {}).items():
            env[name] = self.host_path(value)
        for pair in self.request.get("Env") or []:
            name, _, value = pair.partition("=")
            env[name] = self.host_path(value)
        for mount in self.request.get("HostConfig", {}).get("Mounts") or []:
            os.makedirs(self.host_path(mount["Target"]), exist_ok=True)
        cwd = self.host_path(self.request.get("WorkingDir") or image["workdir"])
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        readers = [
            threading.Thread(target=self._pump, args=(1, self.process.stdout), daemon=True),
            threading.Thread(target=self._pump, args=(2, self.process.stderr), daemon=True),
        ]
        for reader in readers:
            reader.start()

        def reap() -> None:
            for reader in readers:
                reader.join()
            self.output.put(None)
            self.status = self.process.wait()
            self.exited.set()

        threading.Thread(target=reap, daemon=True).start()
        self.started.set()

    def _pump(self, stream: int, pipe) -> None:
        for chunk in iter(lambda: pipe.read1(65536), b""):
            self.output.put((stream, chunk))


class Engine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, config: dict) -> None:
        self.config = config
        self.containers: dict[str, Container] = {}
        self.lock = threading.Lock()
        super().__init__(config["socket"], Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Engine

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        pass

    def address_string(self) -> str:
        return "local"

    def reply(self, status: int, body=None) -> None:
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "text/plain" if isinstance(body, bytes) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self) -> tuple[list[str], dict]:
        url = urlparse(self.path)
        parts = [part for part in url.path.split("/") if part]
        if parts and parts[0].startswith("v1."):
            parts = parts[1:]
        return parts, parse_qs(url.query)

    def container(self, container_id: str) -> Container | None:
        found = self.server.containers.get(container_id)
        if found is None:
            self.reply(404, {"message": f"No such container: {container_id}"})
        return found

    def body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts, query = self.route()
        if parts == ["_ping"]:
            self.reply(200, b"OK")
        elif parts == ["version"]:
            self.reply(200, {"ApiVersion": API_VERSION, "MinAPIVersion": "1.24", "Version": "local"})
        elif parts == ["images", "json"]:
            filters = json.loads(query.get("filters", ["{}"])[0])
            wanted = filters.get("reference", [])
            if isinstance(wanted, dict):
                wanted = list(wanted)
            images = [
                {"Id": f"sha256:{uuid.uuid5(uuid.NAMESPACE_URL, name).hex}", "RepoTags": [name]}
                for name in self.server.config["images"]
                if not wanted or name in wanted
            ]
            self.reply(200, images)
        elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "json":
            found = self.container(parts[1])
            if found:
                self.reply(200, {"Id": found.id, "Config": {"Tty": False}, "State": {"Running": found.started.is_set() and not found.exited.is_set()}})
        else:
            self.reply(404, {"message": f"local engine: no GET {self.path}"})

    def do_POST(self) -> None:
        parts, query = self.route()
        if parts == ["containers", "create"]:
            request = self.body()
            if request.get("Image") not in self.server.config["images"]:
                self.reply(404, {"message": f"No such image: {request.get('Image')}"})
                return
            found = Container(request, self.server.config)
            with self.server.lock:
                self.server.containers[found.id] = found
                with open(self.server.config["record"], "a") as record:
                    record.write(json.dumps({"id": found.id, **request}) + "\n")
            self.reply(201, {"Id": found.id, "Warnings": []})
        elif parts[:1] == ["images"] and parts[1:] == ["create"]:
            self.reply(404, {"message": f"pull access denied for {query.get('fromImage')}: the local engine has only the project's images"})
        elif len(parts) == 3 and parts[0] == "containers":
            found = self.container(parts[1])
            if not found:
                return
            action = parts[2]
            if action == "start":
                found.start()
                self.reply(204)
            elif action == "attach":
                self.attach(found)
            elif action == "wait":
                found.exited.wait()
                self.reply(200, {"StatusCode": found.status, "Error": None})
            elif action in ("stop", "kill"):
                if found.process and found.process.poll() is None:
                    found.process.send_signal(signal.SIGTERM if action == "stop" else signal.SIGKILL)
                self.reply(204)
            else:
                self.reply(404, {"message": f"local engine: no POST {self.path}"})
        else:
            self.reply(404, {"message": f"local engine: no POST {self.path}"})

    def attach(self, found: Container) -> None:
        """Docker's hijacked attach: 101, then 8-byte-headed frames until exit."""
        self.send_response(101, "UPGRADED")
        self.send_header("Content-Type", "application/vnd.docker.raw-stream")
        self.send_header("Connection", "Upgrade")
        self.send_header("Upgrade", "tcp")
        self.end_headers()
        self.wfile.flush()
        found.started.wait()
        while (item := found.output.get()) is not None:
            stream, chunk = item
            self.wfile.write(struct.pack(">BxxxL", stream, len(chunk)) + chunk)
            self.wfile.flush()
        self.close_connection = True

    def do_DELETE(self) -> None:
        parts, _ = self.route()
        if len(parts) == 2 and parts[0] == "containers":
            found = self.container(parts[1])
            if found:
                if found.process and found.process.poll() is None:
                    found.process.kill()
                with self.server.lock:
                    self.server.containers.pop(found.id, None)
                self.reply(204)
        else:
            self.reply(404, {"message": f"local engine: no DELETE {self.path}"})


def main() -> None:
    with open(sys.argv[1]) as file:
        config = json.load(file)
    if os.path.exists(config["socket"]):
        os.unlink(config["socket"])
    engine = Engine(config)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    engine.serve_forever()


if __name__ == "__main__":
    main()
