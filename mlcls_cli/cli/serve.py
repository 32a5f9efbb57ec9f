"""`mlcls serve`: the PaddleX-compatible HTTP service (FastAPI + uvicorn, the `[serve]` extra)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mlcls_cli import console
from mlcls_cli.cli.common import (
    BackendOpt,
    PrecisionOpt,
    cli_command,
    complete_device,
    complete_model,
    complete_pipeline,
)
from mlcls_cli.errors import UsageError

DEFAULT_PIPELINE = "image_multilabel_classification"


def _parse_threshold(text: str | None) -> Any:
    """``--threshold``: a number or a thresholds.json path (as text), or a JSON list/mapping."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"--threshold {text!r} is not valid JSON: {exc.msg}",
                hint='e.g. --threshold 0.4, --threshold "[0.5, 0.3, 0.6]" or --threshold \'{"default": 0.5, "2": 0.7}\'',
            ) from None
    return stripped


@cli_command(json_help='Once listening, print one JSON line {"url", "endpoint", "health", ...} on stdout.')
def command(
    pipeline: Annotated[
        str | None,
        typer.Option(
            "--pipeline",
            "-p",
            help="Pipeline name (image_multilabel_classification, multi_label_image_classification or "
            "image_classification) or a pipeline YAML from `mlcls get-config`. [default: the one of "
            "--model/--model-dir's task, else image_multilabel_classification]",
            autocompletion=complete_pipeline,
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Zoo model name; overrides the pipeline's model.",
            autocompletion=complete_model,
        ),
    ] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option("--model-dir", help="An inference package folder (e.g. a trained model's export)."),
    ] = None,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. The default serves this machine only; PaddleX listens on 0.0.0.0.",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0 picks a free one).")] = 8080,
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            help="cpu, gpu or gpu:N. [default: gpu:0 when available, else cpu]",
            autocompletion=complete_device,
        ),
    ] = None,
    threshold: Annotated[
        str | None,
        typer.Option(
            "--threshold",
            help="Server default threshold when a request sends none: a number, a JSON list/mapping, "
            "or a thresholds.json.",
        ),
    ] = None,
    allow_url_inputs: Annotated[
        bool | None,
        typer.Option(
            "--allow-url-inputs/--no-allow-url-inputs",
            help="Let `image` be an http(s) URL the server downloads. [default: allowed on a loopback "
            "--host, refused otherwise]",
            show_default=False,
        ),
    ] = None,
    max_body_mb: Annotated[
        float,
        typer.Option("--max-body-mb", help="Largest request body and downloaded image, in MiB (413 above)."),
    ] = 20.0,
    max_queue: Annotated[
        int,
        typer.Option(
            "--max-queue",
            min=0,
            help="Inference requests in progress at once (downloading, decoding, queued or running); one "
            "more is answered 503 with Retry-After: 1 instead of waiting. 0 = no limit.",
        ),
    ] = 64,
    backend: BackendOpt = None,
    precision: PrecisionOpt = None,
    batch_max_size: Annotated[
        int | None,
        typer.Option(
            "--batch-max-size",
            help="Dynamic batching: requests that arrive within --batch-wait-ms share one inference call, "
            "at most this many images (1..256; 2 or more turns batching on, e.g. 8). Each request keeps "
            "its own threshold, topK and visualize. [default: the pipeline's Serving.batch_max_size, "
            "else 1 (off)]",
            show_default=False,
        ),
    ] = None,
    batch_wait_ms: Annotated[
        float | None,
        typer.Option(
            "--batch-wait-ms",
            help="With batching, how long the first waiting request waits for others before its batch "
            "runs, in milliseconds (a batch that fills up runs at once). [default: the pipeline's "
            "Serving.batch_wait_ms, else 5]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the pipeline over HTTP: POST /multilabel-image-classification (multi-label) or
    POST /image-classification (single-label), GET /health (PaddleX API).

    Runs until Ctrl-C (exit 130). Logs, including the access log, go to stderr.
    """
    from mlcls_cli.serving.server import require_serve_deps
    from mlcls_cli.serving.worker import DEFAULT_BATCH_WAIT_MS, check_batching

    require_serve_deps()
    if not max_body_mb > 0:
        raise UsageError(f"--max-body-mb must be positive, got {max_body_mb}")
    # checked before the port is taken and the model loaded
    check_batching(
        1 if batch_max_size is None else batch_max_size,
        DEFAULT_BATCH_WAIT_MS if batch_wait_ms is None else batch_wait_ms,
    )
    if device is not None:
        from mlcls_cli.inference.device import parse_device

        parse_device(device)  # a typo fails before the port is taken and the model loaded
    if pipeline is None:
        from mlcls_cli.serving.server import pipeline_for_model

        pipeline = pipeline_for_model(model, model_dir) or DEFAULT_PIPELINE
    _serve(
        pipeline,
        model=model,
        model_dir=model_dir,
        host=host,
        port=port,
        device=device,
        threshold=_parse_threshold(threshold),
        allow_url_inputs=allow_url_inputs,
        max_body_mb=max_body_mb,
        backend=backend,
        precision=precision,
        batch_max_size=batch_max_size,
        batch_wait_ms=batch_wait_ms,
        max_queue=max_queue,
    )


def _batching(pipe: Any, max_size: int | None, wait_ms: float | None) -> tuple[int, float]:
    """The options, else the pipeline's ``Serving.batch_max_size``/``batch_wait_ms``, else 1 (off) and 5 ms."""
    from mlcls_cli.serving.worker import DEFAULT_BATCH_WAIT_MS, check_batching

    config = getattr(pipe, "config", None)
    if max_size is None and config is not None:
        max_size = config.get("Serving.batch_max_size")
    if wait_ms is None and config is not None:
        wait_ms = config.get("Serving.batch_wait_ms")
    return check_batching(
        1 if max_size is None else max_size, DEFAULT_BATCH_WAIT_MS if wait_ms is None else wait_ms
    )


def _serve(
    pipeline_spec: str,
    *,
    model: str | None,
    model_dir: Path | None,
    host: str,
    port: int,
    device: str | None,
    threshold: Any,
    allow_url_inputs: bool | None,
    max_body_mb: float,
    backend: str | None = None,
    precision: str | None = None,
    batch_max_size: int | None = None,
    batch_wait_ms: float | None = None,
    max_queue: int = 64,
) -> None:
    from mlcls_cli.serving.app import HEALTH, create_app, endpoint_for
    from mlcls_cli.serving.server import (
        bind_socket,
        bound_url,
        is_loopback,
        load_pipeline,
        make_server,
        url_inputs_allowed,
    )
    from mlcls_cli.serving.worker import InferenceWorker

    loopback = is_loopback(host)
    urls_allowed = url_inputs_allowed(host, allow_url_inputs)
    sock = bind_socket(host, port)
    worker: InferenceWorker | None = None
    try:
        pipe = load_pipeline(
            pipeline_spec,
            model=model,
            model_dir=model_dir,
            device=device,
            threshold=threshold,
            backend=backend,
            precision=precision,
        )
        max_size, wait_ms = _batching(pipe, batch_max_size, batch_wait_ms)
        worker = InferenceWorker(pipe, batch_max_size=max_size, batch_wait_ms=wait_ms)
        if threshold is not None and worker.task == "image_classification":
            raise UsageError(
                "--threshold applies to multi-label models; a single-label model returns its top-k classes",
                hint="drop --threshold (clients choose k with the request's topk)",
            )
        endpoint = endpoint_for(worker.task)
        visualize = bool(getattr(pipe, "visualize", True))  # Serving.visualize of the pipeline config
        app = create_app(
            worker,
            visualize_default=visualize,
            allow_url_inputs=urls_allowed,
            max_body_mb=max_body_mb,
            max_queue=max_queue,
        )
        url = bound_url(sock)
        if not loopback:
            console.warn(
                f"listening on {host}, reachable from other machines; the service has no authentication"
            )
            if urls_allowed:
                console.warn("URL inputs are on: clients can make this server fetch any URL it can reach")
        console.success(f"serving on {url}  (POST {endpoint}, GET {HEALTH}; Ctrl-C stops)")
        console.info(
            f"URL inputs {'allowed' if urls_allowed else 'refused (403)'}; body limit {max_body_mb:g} MiB; "
            f"{f'at most {max_queue} requests in progress (503 above)' if max_queue else 'no request limit'}; "
            f"visualize default {str(visualize).lower()}; "
            + (
                f"dynamic batching: up to {max_size} requests per inference, waiting up to {wait_ms:g} ms"
                if max_size > 1
                else "no batching"
            )
        )
        if console.state.json:
            console.emit_json_line(
                {
                    "url": url,
                    "endpoint": url + endpoint,
                    "health": url + HEALTH,
                    "allow_url_inputs": urls_allowed,
                    "batch_max_size": max_size,
                    "batch_wait_ms": wait_ms,
                }
            )
        make_server(app, quiet=console.state.quiet).run(sockets=[sock])
    finally:
        if worker is not None:
            worker.close()
        sock.close()
