"""The FastAPI application: PaddleX's image classification APIs, with every error as JSON.

Routes: ``POST /multilabel-image-classification`` (operation ``infer``) for a
multi-label model or ``POST /image-classification`` for a single-label one (the
other task's route answers 404 naming the right one), and ``GET /health``. Successful answers are ``{"logId", "result", "errorCode": 0,
"errorMsg": "Success"}``; every failure, including unknown routes and wrong
methods, is ``{"logId", "errorCode": <HTTP status>, "errorMsg"}``. Bad input gets
a 4xx; only a bug in the server gives 500.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlcls_cli import __version__
from mlcls_cli.serving.errors import ApiError, error_body, new_log_id, validation_message
from mlcls_cli.serving.inputs import decode_base64, decode_image, fetch_image_url
from mlcls_cli.serving.limits import BodyLimitMiddleware
from mlcls_cli.serving.schemas import ClsInferRequest, InferRequest, normalise_threshold
from mlcls_cli.serving.worker import InferenceWorker, Prediction
from mlcls_cli.utils.urls import url_scheme

ENDPOINT = "/multilabel-image-classification"
CLS_ENDPOINT = "/image-classification"
HEALTH = "/health"
DEFAULT_MAX_BODY_MB = 20.0
DEFAULT_URL_TIMEOUT = 10.0
#: Inference requests in progress at once; one more is answered 503 (Retry-After) instead of waiting.
DEFAULT_MAX_QUEUE = 64
#: Images decoded ahead of inference at most without batching (decoding overlaps inference, memory stays bounded).
DECODED_IMAGES_IN_FLIGHT = 4


def decoded_images_limit(batch_max_size: int = 1) -> int:
    """How many requests may hold a decoded image at once; the others wait for a slot (memory stays bounded).

    With dynamic batching, twice the largest batch (at least 4): one batch runs while the next one gathers.
    """
    return max(DECODED_IMAGES_IN_FLIGHT, 2 * batch_max_size)


log = logging.getLogger("mlcls.serving")


def _error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def encode_jpeg_base64(image: Any) -> str:
    """Base64 (ASCII) of ``image`` (a PIL image) encoded as JPEG."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def endpoint_for(task: str) -> str:
    """The inference route of a task (PaddleX's paths)."""
    return CLS_ENDPOINT if task == "image_classification" else ENDPOINT


def create_app(
    worker: InferenceWorker,
    *,
    visualize_default: bool = True,
    allow_url_inputs: bool = True,
    max_body_mb: float = DEFAULT_MAX_BODY_MB,
    url_timeout: float = DEFAULT_URL_TIMEOUT,
    max_queue: int = DEFAULT_MAX_QUEUE,
) -> FastAPI:
    """Build the service around ``worker``.

    ``visualize_default`` applies when a request leaves ``visualize`` unset (PaddleX:
    the pipeline's ``Serving.visualize``). ``allow_url_inputs`` lets ``image`` be an
    http(s) URL that the server downloads. ``max_body_mb`` limits request bodies and
    downloaded images; ``url_timeout`` (seconds) bounds each download. ``max_queue`` caps
    the inference requests in progress (downloading, decoding, waiting or running): one
    more is answered 503 with ``Retry-After: 1`` at once instead of waiting; 0 = no cap.
    """
    max_bytes = max(1, int(max_body_mb * 1024 * 1024))
    single = worker.task == "image_classification"
    kind = "single-label" if single else "multi-label"
    app = FastAPI(
        title=f"mlcls {kind} image classification",
        version=__version__,
        description=f"PaddleX-compatible {kind} image classification service.",
    )
    app.state.worker = worker
    # Decoded images waiting for the worker are the big allocations: bound how many exist at once.
    decoded_slots = asyncio.Semaphore(decoded_images_limit(getattr(worker, "batch_max_size", 1)))
    in_progress = [0]  # inference requests accepted and not yet answered (the event loop's thread only)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(422, validation_message(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc.status, exc.message, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log_id = new_log_id()
        log.error("bug: %s %s failed (logId %s)", request.method, request.url.path, log_id, exc_info=exc)
        return JSONResponse(error_body(500, "Internal server error", log_id), status_code=500)

    @app.get(HEALTH, operation_id="health", summary="Service health")
    async def health() -> dict[str, Any]:
        return {"logId": new_log_id(), "errorCode": 0, "errorMsg": "Healthy"}

    async def classify(image: str, threshold: Any, top_k: int | None, visualize: bool) -> JSONResponse:
        if max_queue and in_progress[0] >= max_queue:
            raise ApiError(
                503,
                f"the server is busy: {in_progress[0]} requests are in progress, its limit (--max-queue); "
                "retry in a moment",
                headers={"Retry-After": "1"},
            )
        in_progress[0] += 1
        try:
            return await _classify(image, threshold, top_k, visualize)
        finally:
            in_progress[0] -= 1

    async def _classify(image: str, threshold: Any, top_k: int | None, visualize: bool) -> JSONResponse:
        log_id = new_log_id()
        scheme = url_scheme(image)
        if scheme is not None:
            if not allow_url_inputs:
                raise ApiError(
                    403,
                    "URL inputs are disabled on this server; send the image as base64, "
                    "or start the server with --allow-url-inputs",
                )
            url = image.strip()
            data = await run_in_threadpool(fetch_image_url, url, max_bytes=max_bytes, timeout=url_timeout)
        else:
            data = await run_in_threadpool(decode_base64, image)
        async with decoded_slots:
            picture = await run_in_threadpool(decode_image, data)
            prediction: Prediction = await worker.predict_async(
                picture, threshold=threshold, top_k=top_k, visualize=visualize
            )
        result: dict[str, Any] = {"categories": prediction.categories}
        if visualize and prediction.image is not None:
            result["image"] = await run_in_threadpool(encode_jpeg_base64, prediction.image)
        return JSONResponse({"logId": log_id, "result": result, "errorCode": 0, "errorMsg": "Success"})

    if single:

        @app.post(CLS_ENDPOINT, operation_id="infer", summary="Classify an image (single-label)")
        async def infer_single_label(body: ClsInferRequest) -> JSONResponse:
            visualize = visualize_default if body.visualize is None else body.visualize
            top_k = body.topk
            if top_k is None and body.inferenceParams is not None:
                top_k = body.inferenceParams.topK
            return await classify(body.image, None, top_k, visualize)

    else:

        @app.post(ENDPOINT, operation_id="infer", summary="Classify an image (multi-label)")
        async def infer(body: InferRequest) -> JSONResponse:
            threshold = normalise_threshold(body.threshold, worker.num_classes)
            visualize = visualize_default if body.visualize is None else body.visualize
            top_k = body.inferenceParams.topK if body.inferenceParams is not None else None
            return await classify(body.image, threshold, top_k, visualize)

    other = ENDPOINT if single else CLS_ENDPOINT

    @app.post(other, include_in_schema=False)
    async def other_task(_: Request) -> JSONResponse:
        raise ApiError(404, f"this server runs a {kind} model: POST {endpoint_for(worker.task)}, not {other}")

    app.add_middleware(BodyLimitMiddleware, max_bytes=max_bytes)
    return app
