"""The text recogniser with its output layer cut down to Latin-script characters.

RapidOCR's PP-OCRv6 recogniser is multilingual: its last layer scores 18,710 classes (CJK ideographs,
kana, hangul, Latin, ...) at every time step (one per 8 px of the 48-px-high input), and that layer, its
softmax and the decoder's argmax over it are 10-17% of recognition time (docs/ocr-speed.md). The service
reads labels and recipes in Latin-script languages (English, French, German, Spanish, ...), so the layer is
rebuilt, in memory when the engine starts, with the columns of the blank, the space and the characters of
the Latin, Greek, punctuation, currency, letter-like, number-form, arrow, mathematical, symbol (bullets,
check boxes) and full-width-ASCII blocks: 1,725 classes. The classes kept get the same scores as before
(the same weights); the decoder takes the best class at each step, so wherever the whole model's best class
is kept the text is the same, and a step the whole model would have read as an ideograph is read as its
best kept character instead. Confidences rise a little (the softmax has fewer classes to share).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

# Unicode blocks whose characters the recogniser keeps, [start, end).
KEPT_BLOCKS: tuple[tuple[int, int], ...] = (
    (0x0020, 0x0250),  # Basic Latin, Latin-1 Supplement (½ ¼ ¾ ° µ), Latin Extended-A and -B
    (0x0370, 0x0400),  # Greek (µ-like letters, α/β on vitamin labels)
    (0x1E00, 0x1F00),  # Latin Extended Additional (Vietnamese)
    (0x2000, 0x2400),  # punctuation, super/subscripts, currency, letter-like (℃ ™), number forms, arrows, maths
    (0x2400, 0x2800),  # enclosed numbers (①), geometric shapes, symbols, dingbats: bullets, check boxes □ ☐ ✓
    (0xFF01, 0xFF5F),  # full-width ASCII, which the model prints for some punctuation
)


@dataclass(frozen=True)
class LatinRecogniser:
    """The rebuilt model (ONNX bytes, for onnxruntime.InferenceSession) and its character list, in class
    order without the blank and the space (as RapidOCR's CTCLabelDecode takes it)."""

    model: bytes
    characters: list[str]


def is_kept(character: str) -> bool:
    return len(character) == 1 and any(start <= ord(character) < end for start, end in KEPT_BLOCKS)


def latin_recogniser(path: str) -> LatinRecogniser | None:
    """The recogniser at `path` with only the Latin-script classes, or None (and a warning) when the model
    is not laid out as PP-OCR's recognisers are: a `character` metadata entry and a last MatMul + Add whose
    weights score blank + characters + space."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    meta = {p.key: p for p in model.metadata_props}
    if "character" not in meta:
        log.warning("OCR recogniser has no character list; its output layer is kept whole")
        return None
    characters = meta["character"].value.splitlines()
    classes = len(characters) + 2  # blank first, space last (CTCLabelDecode's order)
    head = _output_layer(model, classes)
    if head is None:
        log.warning("OCR recogniser's output layer not found; it is kept whole")
        return None
    weight, bias = head
    kept = [c for c in characters if is_kept(c)]
    columns = [0] + [i + 1 for i, c in enumerate(characters) if is_kept(c)] + [classes - 1]
    weight.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(numpy_helper.to_array(weight)[:, columns]),
                                            weight.name))
    bias.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(numpy_helper.to_array(bias)[columns]), bias.name))
    for value in list(model.graph.output) + list(model.graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_value == classes:
                dim.dim_value = len(columns)
    meta["character"].value = "\n".join(kept)
    return LatinRecogniser(model.SerializeToString(), kept)


def _output_layer(model: onnx.ModelProto, classes: int) -> tuple[onnx.TensorProto, onnx.TensorProto] | None:
    """The (weight, bias) initializers of the graph's last MatMul + Add producing `classes` scores."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes = list(graph.node)
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        if node.op_type != "MatMul" or node.input[1] not in inits:
            continue
        weight = inits[node.input[1]]
        if len(weight.dims) != 2 or weight.dims[1] != classes:
            return None
        for later in nodes[index + 1:]:
            if later.op_type == "Add" and node.output[0] in later.input:
                bias_name = next((name for name in later.input if name in inits), None)
                if bias_name is not None and numpy_helper.to_array(inits[bias_name]).shape == (classes,):
                    return weight, inits[bias_name]
        return None
    return None
