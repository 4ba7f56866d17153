"""The shipped StyleFlow for mobilestylegan-ffhq on real faces (bars from
benchmarks/styleflow.py, README "StyleFlow", minus a margin)."""

from __future__ import annotations

import pytest
import torch

from stylelab.flows import flow_path, load_flow

pytestmark = [pytest.mark.weights, pytest.mark.skipif(
    flow_path("mobilestylegan-ffhq") is None, reason="no StyleFlow shipped or trained")]


def test_age_and_yaw_requests_are_met(mobile, faceapi_dir):
    from stylelab.directions.measures import FaceMeasurer
    from stylelab.faces import FaceAttributes
    from stylelab.pipelines.flow import FlowPipeline

    pipe = FlowPipeline(mobile, load_flow("mobilestylegan-ffhq"),
                        measurer=FaceMeasurer(FaceAttributes(faceapi_dir)))
    with torch.no_grad():
        w = mobile.sample_w(2, seed=11)
    for i in range(2):
        older = pipe.edit(w[i:i + 1], {"age": 60.0})
        assert abs(older.measured_after["age"] - 60.0) < 15.0, older.measured_after
        assert older.identity is not None and older.identity > 0.85
        turned = pipe.edit(w[i:i + 1], {"yaw": 20.0})
        assert abs(turned.measured_after["yaw"] - 20.0) < 8.0, turned.measured_after
