"""Read an OpenVINO IR (v10/v11 ``.xml`` + ``.bin``) into plain Python objects.

No OpenVINO is needed: the XML lists every layer and edge, and each ``Const``
layer gives the offset, size, type and shape of its data in the ``.bin``.
Converters walk the graph (:class:`IRGraph`) to find the weights they need.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_DTYPES = {
    "f32": np.float32,
    "f16": np.float16,
    "i64": np.int64,
    "i32": np.int32,
    "u8": np.uint8,
    "i8": np.int8,
}


class IRFormatError(ValueError):
    """The files are not an OpenVINO IR this reader understands."""


@dataclass
class IRLayer:
    id: str
    name: str
    type: str
    attrs: dict[str, str]
    out_shapes: list[tuple[int, ...]]
    inputs: list[str] = field(default_factory=list)  # producer layer ids, by input port
    value: np.ndarray | None = None  # Const layers only


class IRGraph:
    """Layers in file order (topological for IRs written by the Model Optimizer)."""

    def __init__(self, layers: dict[str, IRLayer]):
        self.layers = layers
        self._consumers: dict[str, list[str]] = {k: [] for k in layers}
        for layer in layers.values():
            for src in layer.inputs:
                self._consumers[src].append(layer.id)

    def of_type(self, *types: str) -> list[IRLayer]:
        return [layer for layer in self.layers.values() if layer.type in types]

    def producer(self, layer: IRLayer, port: int) -> IRLayer:
        return self.layers[layer.inputs[port]]

    def consumers(self, layer: IRLayer) -> list[IRLayer]:
        return [self.layers[i] for i in self._consumers[layer.id]]

    def const_input(self, layer: IRLayer, port: int) -> np.ndarray:
        src = self.producer(layer, port)
        if src.value is None:
            raise IRFormatError(f"input {port} of {layer.name} is not a constant")
        return src.value

    def ancestors_of_type(self, layer: IRLayer, types: tuple[str, ...]) -> list[IRLayer]:
        """All layers of ``types`` upstream of ``layer`` (breadth-first)."""
        seen, queue, found = set(), [layer.id], []
        while queue:
            cur = self.layers[queue.pop(0)]
            for src in cur.inputs:
                if src in seen:
                    continue
                seen.add(src)
                if self.layers[src].type in types:
                    found.append(self.layers[src])
                queue.append(src)
        return found


def read_ir(xml_path: str | Path, bin_path: str | Path | None = None) -> IRGraph:
    """Parse ``xml_path`` and the weights in ``bin_path`` (default: same stem, ``.bin``)."""
    xml_path = Path(xml_path)
    bin_path = Path(bin_path) if bin_path else xml_path.with_suffix(".bin")
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise IRFormatError(f"cannot read OpenVINO IR XML {xml_path}: {exc}") from exc
    if root.tag != "net" or root.find("layers") is None or root.find("edges") is None:
        raise IRFormatError(f"{xml_path} is not an OpenVINO IR (no <net><layers><edges>)")
    blob = np.fromfile(bin_path, dtype=np.uint8)
    layers: dict[str, IRLayer] = {}
    for node in root.find("layers"):
        layers[node.get("id")] = _parse_layer(node, blob, bin_path)
    ports: dict[str, dict[int, str]] = {k: {} for k in layers}
    for edge in root.find("edges"):
        ports[edge.get("to-layer")][int(edge.get("to-port"))] = edge.get("from-layer")
    for lid, by_port in ports.items():
        layers[lid].inputs = [by_port[p] for p in sorted(by_port)]
    return IRGraph(layers)


def _parse_layer(node: ET.Element, blob: np.ndarray, bin_path: Path) -> IRLayer:
    data = node.find("data")
    attrs = dict(data.attrib) if data is not None else {}
    out = node.find("output")
    shapes = [
        tuple(int(d.text) for d in port.findall("dim")) for port in (out if out is not None else [])
    ]
    layer = IRLayer(node.get("id"), node.get("name"), node.get("type"), attrs, shapes)
    if layer.type == "Const":
        layer.value = _const_value(attrs, blob, bin_path, layer.name)
    return layer


def _const_value(attrs: dict[str, str], blob: np.ndarray, bin_path: Path, name: str) -> np.ndarray:
    dtype = _DTYPES.get(attrs.get("element_type", ""))
    if dtype is None:
        raise IRFormatError(f"constant {name}: unsupported element type {attrs.get('element_type')}")
    offset, size = int(attrs["offset"]), int(attrs["size"])
    if offset + size > blob.size:
        raise IRFormatError(
            f"{bin_path} is truncated: constant {name} needs bytes {offset}..{offset + size}, "
            f"file has {blob.size}"
        )
    shape_txt = attrs.get("shape", "").strip()
    shape = tuple(int(s) for s in shape_txt.split(",")) if shape_txt else ()
    return np.frombuffer(blob[offset : offset + size].tobytes(), dtype=dtype).reshape(shape).copy()
