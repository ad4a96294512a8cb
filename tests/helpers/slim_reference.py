"""Reference run of tf_slim's own InceptionV1 in a TF1 graph (run as a subprocess).

Usage: python slim_reference.py OUT_DIR [--seed N] [--size S] [--batch B]

Builds ``tf_slim.nets.inception_v1`` in a ``tf.compat.v1`` graph, gives it
random weights and random batch-norm statistics, saves a real TF1 checkpoint
``OUT_DIR/model.ckpt`` and writes ``OUT_DIR/reference.npz`` with the input
images, the post-ReLU activations of all 57 conv layers (keyed by slim scope),
the 9 block outputs and the logits, plus the checkpoint's variable count.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def alias_tf_keras_legacy_layers() -> None:
    """tf-keras 2.21 keeps legacy_tf_layers under tf_keras.src; TF's lazy loader looks elsewhere."""
    for name in ("", ".base", ".convolutional", ".core", ".normalization", ".pooling"):
        module = importlib.import_module("tf_keras.src.legacy_tf_layers" + name)
        sys.modules["tf_keras.legacy_tf_layers" + name] = module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    alias_tf_keras_legacy_layers()
    tf.compat.v1.disable_v2_behavior()
    import tf_slim as slim
    from tf_slim.nets import inception_v1

    rng = np.random.default_rng(args.seed)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [None, args.size, args.size, 3], name="input")
        # slim expects [-1, 1]; the Keras model takes [0, 1] and maps it itself.
        with slim.arg_scope(inception_v1.inception_v1_arg_scope()):
            logits, end_points = inception_v1.inception_v1(
                images * 2.0 - 1.0, num_classes=1001, is_training=False
            )
        variables = tf.compat.v1.global_variables()
        relus = {
            op.name[len("InceptionV1/") : -len("/Relu")]: op.outputs[0]
            for op in graph.get_operations()
            if op.type == "Relu" and op.name.startswith("InceptionV1/InceptionV1/")
        }
        blocks = {name: end_points[name] for name in end_points if name.startswith("Mixed_")}
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session(graph=graph) as session:
            for variable in variables:
                shape = variable.shape.as_list()
                name = variable.op.name
                if name.endswith("moving_variance"):
                    value = rng.uniform(0.5, 2.0, shape)
                elif name.endswith("moving_mean") or name.endswith("beta"):
                    value = rng.normal(0.0, 0.2, shape)
                else:
                    # He-style scale so that activations neither vanish nor explode.
                    fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
                    value = rng.normal(0.0, (2.0 / fan_in) ** 0.5, shape)
                variable.load(value.astype("float32"), session)
            saver.save(session, os.path.join(args.out_dir, "model.ckpt"), write_meta_graph=False)
            batch = rng.uniform(0.0, 1.0, (args.batch, args.size, args.size, 3)).astype("float32")
            fetched = session.run({"logits": logits, "relus": relus, "blocks": blocks}, {images: batch})
    arrays = {"images": batch, "logits": fetched["logits"], "variable_count": len(variables)}
    arrays.update({"relu/" + scope: value for scope, value in fetched["relus"].items()})
    arrays.update({"block/" + name: value for name, value in fetched["blocks"].items()})
    np.savez(os.path.join(args.out_dir, "reference.npz"), **arrays)


if __name__ == "__main__":
    main()
