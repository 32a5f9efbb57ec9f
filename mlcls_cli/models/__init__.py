"""Model zoo: paddle.nn backbones with the ML-Decoder head, and their registry."""
