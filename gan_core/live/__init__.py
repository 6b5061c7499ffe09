"""Watching a GAN train, live: what the app's "Watch it train" tab runs.

- ``gan_core.live.toy``: the 2-D game (G's points, the real mixture and D's verdict over the plane), trained
  in seconds on one CPU thread, and one step of it shown slowly.
"""

from gan_core.live import toy

__all__ = ["toy"]
