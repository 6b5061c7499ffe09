"""The explorer page, one module per tab: each ``build(...)`` lays out its tab and wires its events.

``app.py`` assembles them (``build_demo``). The Explore tab returns an :class:`~ui.explore.ExploreHandle`, the few
things the other tabs share: the model picker, the tab switcher, the Explore state's components, and opening a state
in Explore. Callbacks are module-level functions taking plain values (plus the explorer, bound with
``functools.partial``), so a test can import and call one; each calls one ``gan_core`` function.
"""

# ZeroGPU Spaces: `spaces` must be imported before torch, and every module of the app imports this package first.
try:
    import spaces

    gpu = spaces.GPU(duration=30)
except ImportError:  # not installed (a local run from pyproject's dependencies): nothing to decorate

    def gpu(fn):
        return fn


__all__ = ["gpu"]
