"""`mlcls serve` with dynamic batching against without, at a given concurrency, side by side.

One model is exported (random weights; speed does not depend on their values) and
photo-like JPEGs are generated. For each backend (default: ``auto``, which picks
ONNX Runtime when installed, and ``paddle``) two servers are started as users start
them, ``mlcls serve`` in a child process on 127.0.0.1: one without batching, one with
``--batch-max-size``/``--batch-wait-ms``. A load generator in this process keeps
``--concurrency`` requests in flight (one thread and one keep-alive connection per
client, each posting the next base64 JPEG as soon as its answer came, ``visualize``
false) for ``--seconds``, and records requests/s and latencies, the server's CPU time
per request and how busy the machine's CPUs were (Linux ``/proc``).

The servers are measured alternately, round by round (so that a change in machine
load hits every one alike), after a warm-up; the median requests/s of ``--rounds``
rounds is reported with latency percentiles over all rounds, the batching/no-batching
ratio per backend, and the mean batch size the server logged when it stopped. On a
shared machine, a round during which other processes used more than ``--max-other``
of the CPUs is measured again (at most ``--retries`` times); the table says how often.

    python benchmarks/bench_serve.py
    python benchmarks/bench_serve.py --backends auto paddle --concurrency 8 --seconds 15 --rounds 3
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import export_random, make_images

REPO = Path(__file__).resolve().parents[1]
_BATCH_LOG = re.compile(r"dynamic batching: (\d+) image\(s\) in (\d+) inference call\(s\)")


@dataclass
class Server:
    """One `mlcls serve` child process."""

    name: str
    backend: str
    batching: bool
    process: subprocess.Popen[str]
    log: Path
    host: str
    port: int
    path: str
    describe: str = ""
    samples: list[float] = field(default_factory=list)  # requests/s of each round
    latencies: list[float] = field(default_factory=list)  # ms, every request of every round
    errors: int = 0
    cpu_ms: list[float] = field(default_factory=list)  # server CPU time per request, each round
    busy: list[float] = field(default_factory=list)  # share of the machine's CPU time in use, each round
    other: list[float] = field(
        default_factory=list
    )  # share used by neither the server nor the load generator
    mean_batch: float | None = None
    discarded: int = 0  # rounds measured again because other processes were busy


def _start(
    name: str, backend: str, batching: bool, model_dir: Path, args: argparse.Namespace, root: Path
) -> Server:
    command = [sys.executable, "-m", "mlcls_cli", "serve", "--json"]
    command += ["--model-dir", str(model_dir), "--device", "cpu", "--port", "0", "--backend", backend]
    command += ["--threshold", "0.5", "--no-allow-url-inputs"]
    if batching:
        command += ["--batch-max-size", str(args.batch_max_size), "--batch-wait-ms", str(args.batch_wait_ms)]
    log = root / f"{name}.log"
    with log.open("w", encoding="utf-8") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, cwd=REPO)
    line = process.stdout.readline() if process.stdout else ""
    if not line:
        process.wait(timeout=60)
        raise SystemExit(f"{name}: the server did not start:\n{log.read_text(encoding='utf-8')}")
    info = json.loads(line)
    url = urlsplit(info["endpoint"])
    return Server(name, backend, batching, process, log, url.hostname or "", url.port or 80, url.path)


def _stop(server: Server) -> None:
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    found = _BATCH_LOG.search(server.log.read_text(encoding="utf-8"))
    if found:
        server.mean_batch = int(found.group(1)) / int(found.group(2))


def _load(
    server: Server, bodies: list[bytes], clients: int, seconds: float
) -> tuple[float, list[float], int]:
    """Keep ``clients`` requests in flight for ``seconds``: (requests/s, latencies in ms, errors)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    finished = [0.0] * clients
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
        headers = {"Content-Type": "application/json"}
        k = index
        start.wait()
        while time.perf_counter() < deadline[0]:
            body = bodies[k % len(bodies)]
            k += clients
            began = time.perf_counter()
            conn.request("POST", server.path, body, headers)
            response = conn.getresponse()
            payload = response.read()
            ended = time.perf_counter()
            if response.status != 200 or b'"errorCode":0' not in payload:
                errors[index] += 1
            latencies[index].append((ended - began) * 1000.0)
            finished[index] = ended
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    flat = [ms for per_client in latencies for ms in per_client]
    elapsed = max(finished) - began
    return len(flat) / elapsed, flat, sum(errors)


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_times() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far (Linux)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _measure(server: Server, bodies: list[bytes], clients: int, seconds: float) -> float:
    """One round: requests/s, latencies, errors, server CPU per request and machine load.

    Returns the share of the machine's CPU time other processes used meanwhile.
    """
    server_before, client_before = _process_cpu(server.process.pid), _process_cpu(os.getpid())
    busy_before, total_before = _machine_times()
    rate, latencies, errors = _load(server, bodies, clients, seconds)
    server_after, client_after = _process_cpu(server.process.pid), _process_cpu(os.getpid())
    busy_after, total_after = _machine_times()
    server.samples.append(rate)
    server.latencies += latencies
    server.errors += errors
    server.cpu_ms.append((server_after - server_before) * 1000.0 / max(1, len(latencies)))
    tick = os.sysconf("SC_CLK_TCK")
    total = max(1, total_after - total_before)
    server.busy.append((busy_after - busy_before) / total)
    ours = (server_after - server_before + client_after - client_before) * tick
    other = max(0.0, (busy_after - busy_before - ours) / total)
    server.other.append(other)
    return other


def _drop_last(server: Server, requests: int) -> None:
    """Forget the latest round (measured while other processes were busy)."""
    for values in (server.samples, server.cpu_ms, server.busy, server.other):
        values.pop()
    del server.latencies[len(server.latencies) - requests :]
    server.discarded += 1


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="PP-LCNet_x1_0_ML", help="zoo model to export with random weights")
    parser.add_argument("--model-dir", type=Path, default=None, help="an existing package instead")
    parser.add_argument("--size", type=int, default=448, help="input size of the exported model")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--image-size", default="640x480", help="WxH of the generated JPEGs")
    parser.add_argument("--backends", nargs="+", default=["auto", "paddle"])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-max-size", type=int, default=8)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of one measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before the first round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--max-other",
        type=float,
        default=0.10,
        help="a round during which other processes used more than this share of the CPUs is measured again",
    )
    parser.add_argument("--retries", type=int, default=5, help="measurements again at most, per round")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.image_size.lower().split("x"))
    load_before = [round(v, 2) for v in os.getloadavg()]  # other work on the machine skews every row

    with tempfile.TemporaryDirectory(prefix="mlcls-bench-serve-") as tmp:
        root = Path(tmp)
        os.environ["MLCLS_HOME"] = str(root / "home")  # the servers convert to ONNX into a throw-away cache
        os.environ["MLCLS_NO_PROGRESS"] = "1"
        folder = root / "images"
        folder.mkdir()
        paths = make_images(folder, args.images, width, height)
        bodies = [
            json.dumps(
                {"image": base64.b64encode(p.read_bytes()).decode("ascii"), "visualize": False}
            ).encode()
            for p in paths
        ]
        model_dir = args.model_dir or export_random(args.model, args.size, root / "model")
        servers: list[Server] = []
        try:
            for backend in args.backends:
                for batching in (False, True):
                    name = f"{backend}-{'batching' if batching else 'plain'}"
                    servers.append(_start(name, backend, batching, model_dir, args, root))
            for server in servers:  # warm-up: oneDNN kernels, ONNX Runtime arenas, connections
                _load(server, bodies, args.concurrency, args.warmup)
            for _ in range(args.rounds):
                for server in servers:
                    for attempt in range(args.retries + 1):
                        before = len(server.latencies)
                        other = _measure(server, bodies, args.concurrency, args.seconds)
                        if other <= args.max_other or attempt == args.retries:
                            break
                        _drop_last(server, len(server.latencies) - before)
        finally:
            for server in servers:
                _stop(server)
        for server in servers:
            text = server.log.read_text(encoding="utf-8")
            found = re.search(r"model \S+ from \S+: (.+)", text)
            server.describe = found.group(1).strip() if found else server.backend

    report: dict[str, Any] = {
        "model": args.model if args.model_dir is None else str(args.model_dir),
        "input_size": args.size,
        "images": args.images,
        "image_size": f"{width}x{height}",
        "concurrency": args.concurrency,
        "batch_max_size": args.batch_max_size,
        "batch_wait_ms": args.batch_wait_ms,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "load_average_before": load_before,
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "rows": [],
    }
    plain_rate: dict[str, float] = {}
    for server in servers:
        rate = statistics.median(server.samples)
        if not server.batching:
            plain_rate[server.backend] = rate
        report["rows"].append(
            {
                "backend": server.backend,
                "runs_on": server.describe,
                "batching": server.batching,
                "requests_per_s": round(rate, 2),
                "rounds_requests_per_s": [round(r, 2) for r in server.samples],
                "p50_ms": round(_percentile(server.latencies, 50), 1),
                "p90_ms": round(_percentile(server.latencies, 90), 1),
                "p99_ms": round(_percentile(server.latencies, 99), 1),
                "requests": len(server.latencies),
                "server_cpu_ms_per_request": round(statistics.median(server.cpu_ms), 1),
                "machine_busy": round(statistics.median(server.busy), 2),
                "other_processes_busy": [round(v, 2) for v in server.other],
                "rounds_measured_again": server.discarded,
                "errors": server.errors,
                "mean_batch": None if server.mean_batch is None else round(server.mean_batch, 2),
                "ratio": round(rate / plain_rate[server.backend], 2),
            }
        )
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"{report['model']} @ {args.size}px, {args.images} JPEGs {width}x{height} (base64, visualize false), "
        f"concurrency {args.concurrency}, {os.cpu_count()} CPUs; batching = --batch-max-size "
        f"{args.batch_max_size} --batch-wait-ms {args.batch_wait_ms:g}; median of {args.rounds} rounds of "
        f"{args.seconds:g} s; load average {report['load_average_before'][0]} before, "
        f"{report['load_average_after'][0]} after"
    )
    print(
        f"{'backend':<8} {'runs on':<34} {'batching':<8} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'batch':>5} {'cpu/req':>7} {'busy':>4} {'ratio':>5}  rounds"
    )
    for row in report["rows"]:
        batch = "" if row["mean_batch"] is None else f"{row['mean_batch']:.2f}"
        print(
            f"{row['backend']:<8} {row['runs_on'][:34]:<34} {'on' if row['batching'] else 'off':<8} "
            f"{row['requests_per_s']:>7.2f} {row['p50_ms']:>7.1f} {row['p90_ms']:>7.1f} {row['p99_ms']:>7.1f} "
            f"{batch:>5} {row['server_cpu_ms_per_request']:>7.1f} {row['machine_busy']:>4.0%} "
            f"{row['ratio']:>5.2f}  {row['rounds_requests_per_s']}"
            + f"  other processes {', '.join(f'{v:.0%}' for v in row['other_processes_busy'])}"
            + f"; {row['rounds_measured_again']} round(s) measured again"
            + (f"  ({row['errors']} errors)" if row["errors"] else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
