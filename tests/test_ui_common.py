"""ui.common's changes to how Gradio runs the app: a new session's configurations, quick draws on the event loop, and
the queue's analytics summary."""

from __future__ import annotations

import asyncio
import inspect

import gradio as gr
import gradio.blocks
import gradio.route_utils
import gradio.state_holder
import pytest
from gradio.blocks import BlocksConfig

from ui import common


@pytest.fixture
def demo():
    with common.Blocks() as demo:
        gr.Slider(0, 10, value=3, label="amount")
        gr.Textbox("a", label="words")
    return demo


def test_sessions_copy_configurations_made_once_and_keep_their_values_apart(demo, monkeypatch):
    made = []
    make = BlocksConfig.config_for_block
    monkeypatch.setattr(BlocksConfig, "config_for_block", staticmethod(lambda key, *args: made.append(key) or make(key, *args)))
    slider, text = (block._id for block in demo.blocks.values() if isinstance(block, (gr.Slider, gr.Textbox)))
    gradios_own = common.SessionState.__mro__[1](demo).config_values  # Gradio's SessionState makes every configuration
    made.clear()

    one, two = common.SessionState(demo), common.SessionState(demo)
    one._update_value_in_config(slider, 7)
    two._update_value_in_config(slider, 9)
    assert one.config_values[slider]["props"]["value"] == 7 and two.config_values[slider]["props"]["value"] == 9
    assert made == [slider]  # made once for both sessions
    fresh = common.SessionState(demo)
    assert fresh.config_values[slider]["props"]["value"] == 3
    assert dict(fresh.config_values.items()) == gradios_own  # iterating makes the rest, equal to Gradio's own
    assert two.config_values[text] == gradios_own[text] and made.count(slider) == 1


def test_a_quick_draw_runs_on_the_loop_and_still_speaks_in_sentences():
    def draw(amount, *, scale):
        if amount < 0:
            raise ValueError(f"The amount must be at least 0, got {amount}.")
        return amount * scale

    wrapped = common.ui(draw, scale=2, on_loop=True)
    assert inspect.iscoroutinefunction(wrapped) and list(inspect.signature(wrapped).parameters) == ["amount"]
    assert asyncio.run(wrapped(3)) == 6
    with pytest.raises(gr.Error, match="at least 0, got -1"):
        asyncio.run(wrapped(-1))
    assert not inspect.iscoroutinefunction(common.ui(draw, scale=2))  # the others still run in Gradio's threads


def test_the_queue_remakes_its_analytics_summary_every_thousand_events_unless_told(demo, monkeypatch):
    monkeypatch.delenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", raising=False)
    demo.queue()
    assert demo._queue.ANAYLTICS_CACHE_FREQUENCY == common.ANALYTICS_EVERY == 1000
    monkeypatch.setenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", "7")
    demo.queue()
    assert demo._queue.ANAYLTICS_CACHE_FREQUENCY == 7


def test_every_new_session_gradio_makes_is_the_lazy_one(demo):
    assert gradio.state_holder.SessionState is gradio.route_utils.SessionState is gradio.blocks.SessionState is common.SessionState
