"""Watching a GAN train, live: what the app's "Watch it train" tab runs.

- ``gan_core.live.toy``: the 2-D game (G's points, the real mixture and D's verdict over the plane), trained
  in seconds on one CPU thread, and one step of it shown slowly.
- ``gan_core.live.run``: a small DCGAN on 4,096 MNIST digits, stepped with the project's trainer, yielding the
  fixed-z grid, the curves and a sentence on the phase of the game while it trains (:class:`LiveRun`).
- ``gan_core.live.sessions``: one such run per visitor, in a temporary folder of its own; the finished model is
  served privately to that visitor (:class:`LiveSessions`).
"""

from gan_core.live import toy

__all__ = ["toy"]
