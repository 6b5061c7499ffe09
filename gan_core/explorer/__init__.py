"""The explorer app's logic: the Explore state and the views of the served models.

``app.py`` wires these into Gradio; nothing here imports Gradio.
"""

from gan_core.explorer.explorer import Explorer, ModelView, page_call, sources_from
from gan_core.explorer.state import ExploreState

__all__ = ["Explorer", "ExploreState", "ModelView", "page_call", "sources_from"]
