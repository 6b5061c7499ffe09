"""The baseline for benchmarks/browser_latency.py: a plain Gradio slider -> gr.Image app.

One slider moves z along the strongest SeFa direction of the same generator the explorer uses,
and the picture is returned as a numpy image upscaled (nearest) to the explorer's display size.

    python benchmarks/baseline_slider_app.py --model weights/mnist [--tuned] [--port 7861]

Without --tuned the event uses Gradio's defaults (queue, progress overlay, trigger_mode "once");
with --tuned it uses the same event settings as the explorer (always_last, hidden progress, no queue),
so the remaining difference is the output path (gr.Image file round trip vs. the explorer's).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import gradio as gr
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_core import GanPipeline
from gan_core.core import images

DISPLAY_PX = 392  # the explorer's picture is 392 CSS px wide


def build(model_spec: str, tuned: bool) -> gr.Blocks:
    pipeline = GanPipeline.from_pretrained(model_spec)
    scale = max(1, DISPLAY_PX // pipeline.image_size)

    def picture(amount: float):
        z = pipeline.latents([0], amounts=[amount])  # seed 0 moved along the strongest SeFa direction: (1, latent_dim)
        return images.upscale(pipeline(z, verdict=False).images[0], scale)

    events = dict(trigger_mode="always_last", show_progress="hidden", queue=False) if tuned else {}
    with gr.Blocks(title="baseline") as demo:
        slider = gr.Slider(-8, 8, value=0, step=0.01, label="Direction 1", elem_id="slider")
        image = gr.Image(picture(0.0), label="picture", elem_id="out", height=DISPLAY_PX, width=DISPLAY_PX)
        slider.input(picture, slider, image, api_name="picture", **events)
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--tuned", action="store_true")
    # $GRADIO_SERVER_PORT, as app.py honours it: benchmarks start both through tests/app_fixtures.AppServer.
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7861")), help="default: $GRADIO_SERVER_PORT, else 7861")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    build(args.model, args.tuned).launch(server_name="127.0.0.1", server_port=args.port, quiet=True)


if __name__ == "__main__":
    main()
