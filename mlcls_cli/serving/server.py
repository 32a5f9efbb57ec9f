"""Starting the service: dependency check, socket binding, logging to stderr, uvicorn.

Nothing here imports FastAPI or uvicorn at module level, so the CLI can say
clearly that the ``[serve]`` extra is missing.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

from mlcls_cli.errors import IOFailure, ModelUnavailableError, UsageError

SERVE_HINT = 'install the service packages with `pip install "mlcls[serve]"` (fastapi and uvicorn)'


def require_serve_deps() -> None:
    """Raise a clear error (exit 69) when fastapi or uvicorn is not installed."""
    missing = []
    for name in ("fastapi", "uvicorn"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ModelUnavailableError(
            f"`mlcls serve` needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed",
            hint=SERVE_HINT,
        )


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def url_inputs_allowed(host: str, flag: bool | None) -> bool:
    """Whether ``image`` may be a URL: ``flag`` when given, else only on a loopback host.

    A server reachable from other machines that fetches any URL it is sent could be
    used to reach hosts behind its firewall, so that has to be asked for.
    """
    return is_loopback(host) if flag is None else bool(flag)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one); errors exit 74 with a hint."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be within 0..65535, got {port}")
    name = host.strip().strip("[]")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(
            f"cannot use --host {host!r}: {exc.strerror}", hint="give an IP address such as 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise IOFailure(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="choose another --port (0 picks a free one), or stop the program using it",
        ) from None
    sock.set_inheritable(True)
    return sock


def bound_url(sock: socket.socket) -> str:
    """``http://host:port`` of a listening socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def log_config(quiet: bool = False) -> dict[str, Any]:
    """uvicorn's logging, with every line (access log included) on stderr: stdout is for results."""
    level = "WARNING" if quiet else "INFO"
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": fmt}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["stderr"], "level": level, "propagate": False},
            "mlcls.serving": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }


def make_server(app: Any, *, quiet: bool = False) -> Any:
    """A ``uvicorn.Server`` for ``app`` that logs to stderr (run it with ``server.run(sockets=[sock])``)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_config=log_config(quiet),
        access_log=not quiet,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    return uvicorn.Server(config)


def pipeline_for_model(model: str | None, model_dir: str | os.PathLike[str] | None) -> str | None:
    """``image_classification`` when the model named (or the package given) is single-label, else None."""
    from mlcls_cli.models.registry import MODELS, TASK_CLS

    if model_dir is not None:
        from mlcls_cli.errors import ConfigError, InputMissingError
        from mlcls_cli.models.export import read_inference_config

        root = Path(model_dir).expanduser()
        for folder in (root, root / "inference", root / "best_model" / "inference"):  # as predict finds it
            try:
                post = read_inference_config(folder).get("PostProcess") or {}
            except (ConfigError, InputMissingError):
                continue
            return "image_classification" if isinstance(post, dict) and "Topk" in post else None
        return None  # the loader reports what is wrong
    if model is not None and model in MODELS and MODELS[model].task == TASK_CLS:
        return "image_classification"
    return None


def load_pipeline(
    pipeline: str | os.PathLike[str] = "image_multilabel_classification",
    *,
    model: str | None = None,
    model_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    threshold: Any = None,
    backend: str | None = None,
    precision: str | None = None,
) -> Any:
    """Load the pipeline (and its predictor) for serving; the arguments beat the pipeline config.

    The service decodes every image itself and hands the pipeline one RGB image per
    call, so the pipeline gets no loader threads and never fetches a URL on its own.
    """
    from mlcls_cli.inference.pipeline import create_pipeline

    overrides: dict[str, Any] = {"workers": 0, "allow_urls": False}
    if model is not None:
        overrides["model_name"] = model
    if model_dir is not None:
        overrides["model_dir"] = os.fspath(model_dir)
    if threshold is not None:
        overrides["threshold"] = threshold
    if backend is not None:
        overrides["backend"] = backend
    if precision is not None:
        overrides["precision"] = precision
    return create_pipeline(os.fspath(pipeline), device=device, **overrides)
