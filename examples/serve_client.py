"""Send an image to a running `mlcls serve` and print the labels it finds.

    mlcls serve --pipeline image_multilabel_classification &        # in another terminal
    python examples/serve_client.py photo.jpg
    python examples/serve_client.py photo.jpg --url http://127.0.0.1:8080 --threshold 0.3 --save out.jpg
    python examples/serve_client.py photo.jpg --url http://127.0.0.1:8081 --topk 3   # a single-label server

Prints one line per label, ``score<TAB>id<TAB>name``, highest score first. With
``--save`` the server draws the labels onto the picture and it is written there.
A multi-label server answers ``POST /multilabel-image-classification`` (``threshold``),
a single-label one ``POST /image-classification`` (``topk``); the client asks the
first and, when the server says it runs a single-label model, the second.
Exits 1 with the server's message when the request is refused.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

import requests


def main(argv: list[str] | None = None) -> int:
    """Post IMAGE to the service and print its categories; return the exit status."""
    parser = argparse.ArgumentParser(description="Classify an image with a running `mlcls serve`.")
    parser.add_argument("image", type=Path, help="image file to send")
    parser.add_argument(
        "--url", default="http://127.0.0.1:8080", help="server address (default: %(default)s)"
    )
    parser.add_argument(
        "--threshold", type=float, default=None, help="score threshold (default: the model's)"
    )
    parser.add_argument(
        "--topk", type=int, default=None, help="classes to return from a single-label server (default: its 5)"
    )
    parser.add_argument("--save", type=Path, default=None, help="write the labelled picture (JPEG) here")
    args = parser.parse_args(argv)

    image = base64.b64encode(args.image.read_bytes()).decode("ascii")
    base = args.url.rstrip("/")
    payload = {"image": image, "threshold": args.threshold, "visualize": args.save is not None}
    response = requests.post(base + "/multilabel-image-classification", json=payload, timeout=60)
    if response.status_code == 404 and "single-label" in response.json().get("errorMsg", ""):
        if args.threshold is not None:
            print("note: a single-label server has no threshold; --threshold is ignored", file=sys.stderr)
        payload = {"image": image, "topk": args.topk, "visualize": args.save is not None}
        response = requests.post(base + "/image-classification", json=payload, timeout=60)
    body = response.json()
    if response.status_code != 200:
        print(f"error {body['errorCode']}: {body['errorMsg']}", file=sys.stderr)
        return 1

    result = body["result"]
    for category in result["categories"]:
        print(f"{category['score']:.5f}\t{category['id']}\t{category['name']}")
    if args.save is not None:
        args.save.write_bytes(base64.b64decode(result["image"]))
        print(f"labelled picture written to {args.save}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
