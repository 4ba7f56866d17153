"""stylelab hub: a Gradio app with one tab per editing method.

``python app.py`` serves on 127.0.0.1 (port ``$GRADIO_SERVER_PORT``, default 7860)
with the model ``$STYLELAB_MODEL`` (default ``mobilestylegan-ffhq``). Also the entry
point of a Hugging Face Space. No analytics, no network calls. Limits: ``spaces/limits.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from spaces import adapt, edit, generate, invert, local, textedit
from spaces.common import model_dropdown
from spaces.limits import LIMITS
from stylelab import CacheError
from stylelab.plugins import load_plugins
from stylelab.registry import DEFAULT_MODEL


def build_app(model_name: str | None = None) -> gr.Blocks:
    """The hub for ``model_name`` (default ``$STYLELAB_MODEL``), queue enabled.

    The model's weights are loaded here, once per process, because its sizes and W+ layer
    count shape the controls; other models load when first picked.
    """
    load_plugins()
    model_name = model_name or os.environ.get("STYLELAB_MODEL", DEFAULT_MODEL)
    # uploads and results Gradio keeps on disk are deleted once an hour, after a day
    with gr.Blocks(title="stylelab", analytics_enabled=False,
                   delete_cache=(3600, 86400)) as demo:
        gr.Markdown("# stylelab\nEdit images through the latent spaces of style-based GANs.")
        model = model_dropdown(model_name)
        # session state lives outside gr.Tabs: a State between tabs corrupts the tab bar
        inverted = gr.State(None, time_to_live=LIMITS.session_ttl_s)
        current = gr.State(model_name)  # the last model that loaded (a failed pick reverts)
        with gr.Tabs():
            generate.build_tab(model_name, model, current)
            invert.build_tab(model, inverted)
            edit.build_tab(model_name, model, inverted)
            textedit.build_tab(model_name, model, inverted)
            local.build_tab(model_name, model, inverted)
            adapt.build_tab(model_name, model, inverted)
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
    demo.launch(server_name="127.0.0.1", server_port=port, ssr_mode=False, mcp_server=False,
                max_file_size=f"{LIMITS.max_upload_mb}mb",
                state_session_capacity=LIMITS.max_sessions)


if __name__ == "__main__":
    main()
