"""mlcls: image multi-label classification on PaddlePaddle, PaddleX-compatible.

The package imports nothing heavy at import time: paddle is loaded only by the
modules that train, export or predict.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
