"""stylelab hub: a Gradio app with one tab per editing method.

``python app.py`` serves on 127.0.0.1 (port ``$GRADIO_SERVER_PORT``, default 7860)
with the model ``$STYLELAB_MODEL`` (default ``mobilestylegan-ffhq``). Also the entry
point of a Hugging Face Space. No analytics, no network calls.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from spaces import edit, generate, invert, textedit
from spaces.common import model_dropdown
from stylelab import CacheError
from stylelab.plugins import load_plugins

DEFAULT_MODEL = "mobilestylegan-ffhq"


def build_app(model_name: str | None = None) -> gr.Blocks:
    """The hub for ``model_name`` (default ``$STYLELAB_MODEL``), queue enabled.

    The model's weights are loaded here, once per process (``get_pipeline``), because its
    sizes and W+ layer count shape the controls; other models load when first picked.
    """
    model_name = model_name or os.environ.get("STYLELAB_MODEL", DEFAULT_MODEL)
    load_plugins()
    with gr.Blocks(title="stylelab", analytics_enabled=False) as demo:
        gr.Markdown("# stylelab\nEdit images through the latent spaces of style-based GANs.")
        model = model_dropdown(model_name)
        with gr.Tabs():
            generate.build_tab(model_name, model)
            inverted = invert.build_tab(model)
            edit.build_tab(model_name, model, inverted)
            textedit.build_tab(model_name, model, inverted)
    demo.queue(default_concurrency_limit=1)
    return demo


def main() -> None:
    """Serve the hub on 127.0.0.1:$GRADIO_SERVER_PORT; a bad model or missing weights exit
    with the library's message rather than a traceback."""
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    try:
        demo = build_app()
    except (ValueError, CacheError) as exc:
        raise SystemExit(f"stylelab hub: {exc}") from None
    demo.launch(server_name="127.0.0.1", server_port=port, ssr_mode=False, mcp_server=False)


if __name__ == "__main__":
    main()
