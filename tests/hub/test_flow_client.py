"""The Edit tab's StyleFlow mode through gradio_client: it explains a missing flow and a
face it cannot measure (tiny 64 px faces: dlib finds none), never a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Hub

VALUES = [40.0, 0.5, 0.05, 0.0, 0.0, 0.25, 0.05, 0.5]  # one per stylelab.flows.ATTRIBUTES


@pytest.fixture(scope="module")
def client(hub: Hub):
    from gradio_client import Client

    return Client(hub.url, verbose=False)


def test_missing_flow_says_how_to_train_one(client, hub: Hub) -> None:
    with pytest.raises(Exception, match="train_styleflow.py --model tiny-test"):
        client.predict("tiny-test", "Seed", 0, 0.7, "whole image", *VALUES,
                       api_name="/flow_edit")
    with pytest.raises(Exception, match="no StyleFlow for tiny-test"):
        client.predict("tiny-test", "Seed", 0, 0.7, api_name="/flow_measure")
    assert hub.alive()


def test_a_face_that_cannot_be_measured_is_explained(client, hub: Hub) -> None:
    import torch

    from stylelab.flows import FlowConfig, StyleFlow, save_flow

    torch.manual_seed(0)
    flow = StyleFlow(FlowConfig(w_dim=32, hidden=16, blocks=2))
    save_flow(flow, hub.log.parent / "cache" / "flows" / "tiny-test" / "styleflow.safetensors",
              "tiny-test")
    with pytest.raises(Exception, match="could not measure"):
        client.predict("tiny-test", "Seed", 0, 0.7, api_name="/flow_measure")
    with pytest.raises(Exception, match="could not measure|no face"):
        client.predict("tiny-test", "Seed", 0, 0.7, "whole image", *[v + 1 for v in VALUES],
                       api_name="/flow_edit")
    with pytest.raises(Exception, match="elbow is not in the list of choices|region must be"):
        client.predict("tiny-test", "Seed", 0, 0.7, "elbow", *[v + 1 for v in VALUES],
                       api_name="/flow_edit")
    assert hub.alive()
