"""Attribute-conditioned editing with StyleFlow (a conditional CNF on W).

>>> flow = load_flow("mobilestylegan-ffhq")
>>> edit = flow_edit(flow, w, current={"age": 31.0, "yaw": 2.0, ...}, changes={"age": 60})
>>> image = G.synthesis(edit.latent)

Training: ``training/train_styleflow.py`` (on the labelled face set).
"""

from .registry import FlowUnavailable, flow_path, load_flow, load_flow_file, save_flow
from .styleflow import ATTRIBUTES, FlowConfig, FlowEdit, StyleFlow, flow_edit

__all__ = ["ATTRIBUTES", "FlowConfig", "FlowEdit", "FlowUnavailable", "StyleFlow", "flow_edit",
           "flow_path", "load_flow", "load_flow_file", "save_flow"]
