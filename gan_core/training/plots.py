"""Plots of a training log: Loss_D / Loss_G and D(x) / D(G(z)) against steps."""

from __future__ import annotations

from pathlib import Path

from gan_core.core.hub import read_log


def plot_losses(log_path: str | Path, out_path: str | Path) -> Path:
    """Two panels: the losses, and D's mean outputs on real and fake batches (0.5 = D cannot tell)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_log(log_path)
    steps = [r["step"] for r in records]
    fig, (ax_loss, ax_d) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=100)
    ax_loss.plot(steps, [r["loss_d"] for r in records], label="Loss_D", color="#d9534f")
    ax_loss.plot(steps, [r["loss_g"] for r in records], label="Loss_G", color="#0275d8")
    ax_loss.set_xlabel("step")
    ax_loss.set_title("Losses")
    ax_loss.legend()
    ax_d.plot(steps, [r["d_real"] for r in records], label="D(x) on real", color="#5cb85c")
    ax_d.plot(steps, [r["d_fake"] for r in records], label="D(G(z)) on fake", color="#f0ad4e")
    ax_d.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax_d.set_ylim(0, 1)
    ax_d.set_xlabel("step")
    ax_d.set_title("Discriminator outputs")
    ax_d.legend()
    for ax in (ax_loss, ax_d):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path)
    plt.close(fig)
    return out_path
