"""Predict with the Python API, as in PaddleX: print each result, save its picture and its JSON.

    python examples/predict_api.py photo.jpg                                # zoo model, downloaded once
    python examples/predict_api.py photos/ --model-dir output/best_model/inference --save-path out
    python examples/predict_api.py photo.jpg --pipeline multi_label_image_classification

Inputs may also be numpy arrays (HxWx3 uint8, BGR like OpenCV), PIL images, URLs,
``{"img": ...}`` dicts or lists of these.
"""

from __future__ import annotations

import argparse

from mlcls_cli import create_model, create_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description="mlcls Python API example")
    parser.add_argument("inputs", nargs="+", help="image files, folders or URLs")
    parser.add_argument("--model", default="PP-LCNet_x1_0_ML", help="zoo model name")
    parser.add_argument("--model-dir", default=None, help="an inference package (overrides --model)")
    parser.add_argument("--pipeline", default=None, help="a pipeline name or YAML file instead of a model")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--device", default=None, help="cpu, gpu:0 ... (default: automatic)")
    parser.add_argument("--save-path", default="./output/")
    args = parser.parse_args()

    if args.pipeline:
        pipeline = create_pipeline(pipeline=args.pipeline, device=args.device)
        output = pipeline.predict(args.inputs, threshold=args.threshold)
    else:
        model = create_model(
            model_name=None if args.model_dir else args.model, model_dir=args.model_dir, device=args.device
        )
        output = model.predict(input=args.inputs, batch_size=1, threshold=args.threshold)

    for res in output:
        res.print()  # {"res": {"input_path", "page_index", "class_ids", "scores", "label_names"}}
        res.save_to_img(args.save_path)  # <name>_res.<ext>: the image with a label(score) banner
        res.save_to_json(args.save_path)  # <name>_res.json
        print(f"{res.input_path}: {', '.join(res.label_names) or '-'}")


if __name__ == "__main__":
    main()
