"""Rendering methods the atlas can run, by name: one `Method` record each, in one registry.

A method turns (model, layer, channels) into one image per channel:
``lucid`` is Lucid's channel visualization, ``neuron`` Lucid's neuron
objective (the centre unit), ``negative`` the image that drives the
channel's pre-ReLU value lowest, ``diversity`` a contact sheet of several
images of the channel made to differ (Lucid's diversity term),
``stylegan2`` the paper's generative prior (`visualizer.prior.generative`),
``examples`` contact sheets of the dataset images that excite each channel
most (`visualizer.analysis.examples`), ``negative_examples`` those it
responds to least.

Adding a method is one file and one registration: a module in this folder
with the function and its `register_method` decorator::

    @register_method("mine", kind="image", order=45, description="What the image shows, in one line.")
    def mine(model, layer, channels, *, size, steps, seed, **settings) -> MethodResult: ...

and one line importing that module below, so that importing the package (as
the config checks, the plan and the catalog do) registers it.
"""

from __future__ import annotations

# Each of these modules registers its methods when imported.
from visualizer.atlas.methods import dataset_examples, generative, optimized  # noqa: F401
from visualizer.atlas.methods.registry import (
    DEFAULT_ORDER,
    METHOD_KINDS,
    Method,
    MethodResult,
    available_methods,
    check_planned_methods,
    counts_classifier_steps,
    get_method,
    method_record,
    method_settings,
    method_step_flops,
    register,
    register_method,
    registered_methods,
    unregister_method,
)

__all__ = [
    "DEFAULT_ORDER",
    "METHOD_KINDS",
    "Method",
    "MethodResult",
    "available_methods",
    "check_planned_methods",
    "counts_classifier_steps",
    "get_method",
    "method_record",
    "method_settings",
    "method_step_flops",
    "register",
    "register_method",
    "registered_methods",
    "unregister_method",
]
