"""One training run on several processes: torchrun's environment, the process groups, DDP, BatchNorm.

``torchrun --nproc_per_node=N -m gan_core.train ...`` starts N copies of the command and tells each
where it stands through the environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
MASTER_PORT); ``--nnodes`` and the rendezvous options work as torchrun documents them, since only
those variables are read here. Without them (or with WORLD_SIZE=1) nothing here is used and a run is
the plain single-process one.

How a run is split (the trainer does the splitting, this module the talking):

- **The global batch is ``optim.batch_size``**, split evenly: process r trains on rows
  ``r*b .. (r+1)*b`` (b = batch_size / N) of the batch the single-process run takes at that step (the
  same epoch permutation of (seed, epoch), the same noise of (seed, step)), so each process sees its own
  share of every epoch. The learning rate, data order, noise, optimiser state and checkpoint identity do
  not depend on N, and with ``--sync-batchnorm`` neither does the trajectory (up to float rounding: a
  2-process run is within 1e-8 of the single-process one in the tests). A checkpoint records N; resuming
  on another N works and says that the continuation is not bit-identical.
- **Process 0 alone touches the run's folder**: it reads the resume checkpoint and checks --out-dir
  (the others wait for its verdict and get the checkpoint from it), and writes checkpoints, the log,
  timeline, plots and exports. Logged values are the means over the processes (one all_reduce per log
  window); a stop request (Ctrl-C, SIGTERM) or the time limit of any process takes effect, for all,
  at the next log window.
- **Two process groups.** The control group (gloo, patient: :data:`SETUP_TIMEOUT`) carries the startup
  messages, where one process may wait for another's download or checkpoint read. The training group
  (NCCL for CUDA tensors, gloo for CPU ones) carries the gradients, the logged means and the
  cross-process BatchNorm; its timeout (``--collective-timeout``) bounds how long a process waits for a
  peer that died or hangs, so a broken job fails instead of hanging.
- **BatchNorm.** D sees real and fake images in two forward passes before one backward. DDP's default
  ``broadcast_buffers=True`` overwrites BatchNorm's running statistics in place at each forward, which
  autograd refuses where BatchNorm's backward keeps them (cuDNN; on the CPU it happens to pass) and costs
  a broadcast per forward; the modules are wrapped without that per-forward sync, so every process keeps
  its own running statistics (used only by the exported D in eval mode: process 0's are exported) and,
  by default, normalises with its own share's batch statistics: no communication beyond DDP's gradient
  exchange, and with 32 or more images per process the shares' statistics are good estimates.
  ``--sync-batchnorm`` normalises over the whole global batch instead, at one all_reduce per BatchNorm
  layer and pass: ``torch.nn.SyncBatchNorm`` on CUDA, :class:`CrossProcessBatchNorm2d` elsewhere
  (torch's works on GPUs only). The EMA generator is a plain copy updated from the DDP modules'
  parameters (the same on every process) and recalibrated on one process with seeded noise.
"""

from __future__ import annotations

import copy
import inspect
import logging
import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

logger = logging.getLogger(__name__)

# The startup: one process may wait for another's data download or checkpoint read.
SETUP_TIMEOUT = timedelta(minutes=30)
ENV_NAMES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


class SharedError(ValueError):
    """Process 0's error, raised on the other processes too so that all stop; process 0 alone reports it."""


@dataclass(frozen=True)
class Launch:
    """Where this process stands in a torchrun job, as its environment says."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int

    @property
    def num_nodes(self) -> int:
        return max(1, self.world_size // max(1, self.local_world_size))


def launch_from_env(environ: dict[str, str] | None = None) -> Launch | None:
    """torchrun's RANK, WORLD_SIZE, LOCAL_RANK (and LOCAL_WORLD_SIZE); None without them or with one process.

    Raises ValueError naming the variable when one is not a whole number or they disagree.
    """
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return None
    values = {}
    for name in ENV_NAMES:
        raw = env.get(name, "1" if name == "LOCAL_WORLD_SIZE" else "0")
        try:
            values[name] = int(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} in the environment is not a whole number; start the run with torchrun, which sets it.") from None
    launch = Launch(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"], values["LOCAL_WORLD_SIZE"])
    if launch.world_size < 1 or not 0 <= launch.rank < launch.world_size or launch.local_rank < 0:
        raise ValueError(f"RANK={launch.rank}, LOCAL_RANK={launch.local_rank}, WORLD_SIZE={launch.world_size} do not fit together; start the run with torchrun, which sets them.")
    return launch if launch.world_size > 1 else None


def split_batch(batch_size: int, world_size: int) -> int:
    """Each process's share of the global batch; ValueError unless it splits evenly."""
    if batch_size % world_size:
        lower, upper = batch_size - batch_size % world_size, batch_size + world_size - batch_size % world_size
        nearest = f"{lower} or {upper}" if lower else str(upper)
        raise ValueError(
            f"--batch-size {batch_size} does not split evenly over {world_size} processes (it is the global batch); "
            f"give a multiple of {world_size}, e.g. {nearest}, or another number of processes."
        )
    return batch_size // world_size


def process_device(name: str, local_rank: int) -> torch.device:
    """The device of one process of a multi-process run: auto and cuda -> cuda:LOCAL_RANK, cpu -> cpu.

    Raises ValueError for devices several processes cannot share (mps, an explicit cuda:N) or a
    LOCAL_RANK without its GPU.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"Unknown device {name!r}; under torchrun use auto, cuda or cpu.") from err
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise ValueError(f"--device {name} cannot run several processes; under torchrun use cuda (NCCL) or cpu (gloo).")
    if device.index is not None:
        raise ValueError(f"--device {name}: under torchrun each process takes the GPU of its LOCAL_RANK; give --device cuda (or auto).")
    if not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but CUDA is not available here; use --device cpu (gloo) or auto.")
    if local_rank >= torch.cuda.device_count():
        raise ValueError(f"LOCAL_RANK {local_rank} has no GPU: this machine has {torch.cuda.device_count()}; start at most that many processes per node.")
    return torch.device("cuda", local_rank)


@dataclass
class Distributed:
    """This process's place in a multi-process run, and the groups it talks through.

    Made by :func:`init_from_env`; :meth:`start_training` adds the training group once the device is
    known. :meth:`close` ends both.
    """

    launch: Launch
    device: torch.device | None = None
    train_group: Any = field(default=None, repr=False)

    @property
    def rank(self) -> int:
        return self.launch.rank

    @property
    def world_size(self) -> int:
        return self.launch.world_size

    @property
    def local_rank(self) -> int:
        return self.launch.local_rank

    @property
    def is_main(self) -> bool:
        """Process 0: the only one that reads and writes the run's folder."""
        return self.launch.rank == 0

    # ------------------------------------------------------------------ control (startup) messages
    def share(self, value: Any) -> Any:
        """Process 0's ``value`` on every process (any picklable object; the others' are ignored).

        Every process must call it; the others wait here until process 0 has sent, which makes it a barrier too.
        """
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        dist.barrier()

    # ------------------------------------------------------------------ training
    def start_training(self, device: torch.device, timeout_s: float) -> None:
        """Make the training group on ``device``'s backend (NCCL for CUDA, gloo otherwise) with ``timeout_s``."""
        self.device = device
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        self.train_group = dist.new_group(backend=backend, timeout=timedelta(seconds=timeout_s))
        logger.info("process %d of %d on %s (%s)", self.rank, self.world_size, device, backend)

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in DistributedDataParallel over the training group; it keeps its own BatchNorm buffers.

        Buffers are synced once at the start (all processes start from the same ones anyway), never per forward.
        """
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        # torch >= 2.13 renamed broadcast_buffers (now deprecated) to forward_sync_buffers.
        no_buffer_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters else {"broadcast_buffers": False}
        return DistributedDataParallel(module, device_ids=device_ids, process_group=self.train_group, **no_buffer_sync)

    def sync_batchnorm(self, module: nn.Module) -> nn.Module:
        """``module`` with its BatchNorm layers normalising over the global batch (parameters and buffers kept)."""
        if self.device.type == "cuda":
            return nn.SyncBatchNorm.convert_sync_batchnorm(module, process_group=self.train_group)
        return _replace_batchnorm(module, lambda bn: CrossProcessBatchNorm2d.from_batchnorm(bn, self.train_group))

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over the processes, in place (training group)."""
        dist.all_reduce(tensor, group=self.train_group)
        return tensor

    def close(self, finished: bool = True) -> None:
        """Leave the job. ``finished``: wait for the others (process 0 may still be exporting), then tear the
        groups down together (one process tearing its connections down under another can abort it). After a
        failure, leave them as they are: the process is about to exit, and torchrun ends the others."""
        if finished and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def is_peer_failure(err: BaseException) -> bool:
    """Whether ``err`` says a collective failed because another process died or stopped answering.

    torch raises DistError (NCCL, timeouts) or, for gloo's broken connections, a RuntimeError from gloo.
    """
    if isinstance(err, dist.DistError):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("gloo" in text or "NCCL" in text or "Connection reset by peer" in text or "Connection closed by peer" in text)


def init_from_env(environ: dict[str, str] | None = None) -> Distributed | None:
    """Join the torchrun job this process belongs to (its control group); None when not under torchrun.

    Uses torchrun's rendezvous variables (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE).
    """
    launch = launch_from_env(environ)
    if launch is None:
        return None
    dist.init_process_group(backend="gloo", timeout=SETUP_TIMEOUT, rank=launch.rank, world_size=launch.world_size)
    return Distributed(launch)


# --------------------------------------------------------------------------- BatchNorm over processes


class CrossProcessBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch, over a process group.

    What ``torch.nn.SyncBatchNorm`` does on GPUs, for any backend (gloo on the CPU): per forward one
    all_reduce of the per-channel sum, sum of squares and count, in float64 (so E[x^2] - E[x]^2 loses
    nothing), and in backward one all_reduce of their gradients (:class:`_SumOverProcesses`). In eval
    mode it is a plain BatchNorm2d with the running statistics.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, group=None, device=None, dtype=None):  # fmt: skip
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype)
        self.group = group

    @classmethod
    def from_batchnorm(cls, bn: nn.modules.batchnorm._BatchNorm, group) -> CrossProcessBatchNorm2d:
        """The same layer (the same parameter and buffer tensors) normalising over ``group``."""
        new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats, group=group, device="meta")
        if bn.affine:
            new.weight, new.bias = bn.weight, bn.bias
        new.running_mean, new.running_var, new.num_batches_tracked = bn.running_mean, bn.running_var, bn.num_batches_tracked
        new.train(bn.training)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        channels = self.num_features
        wide = x.double()  # (B, C, H, W)
        count = x.new_full((1,), x.numel() // channels, dtype=torch.float64)
        local = torch.cat([wide.sum((0, 2, 3)), (wide * wide).sum((0, 2, 3)), count])  # (2C + 1,)
        total = _SumOverProcesses.apply(local, self.group)
        n = total[-1]
        mean = total[:channels] / n
        var = total[channels : 2 * channels] / n - mean * mean  # biased, as BatchNorm normalises
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                unbiased = var * n / (n - 1).clamp(min=1)
                self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
                self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)
        shape = (1, channels, 1, 1)
        out = (wide - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(x.dtype)


class _SumOverProcesses(torch.autograd.Function):
    """y = sum over the processes of x, differentiable: the gradient of each x is the sum of y's gradients."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group) -> torch.Tensor:
        ctx.group = group
        total = tensor.clone()
        dist.all_reduce(total, group=group)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        total = grad.contiguous().clone()
        dist.all_reduce(total, group=ctx.group)
        return total, None


def _replace_batchnorm(module: nn.Module, make) -> nn.Module:
    """``module`` with every BatchNorm2d child replaced by ``make(child)`` (in place; returns ``module``)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d) and not isinstance(child, CrossProcessBatchNorm2d):
            setattr(module, name, make(child))
        else:
            _replace_batchnorm(child, make)
    return module


def copy_module(module: nn.Module, world: Distributed | None) -> nn.Module:
    """A deep copy of ``module``; cross-process BatchNorm layers keep (not copy) their process group."""
    memo = {} if world is None or world.train_group is None else {id(world.train_group): world.train_group}
    return copy.deepcopy(module, memo)


def plain_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with cross-process BatchNorm layers turned back into plain BatchNorm2d (in place), for export.

    The tensors are kept; what a saved or ONNX-exported network contains is then the same as a
    single-process run's.
    """
    for name, child in module.named_children():
        if isinstance(child, (nn.SyncBatchNorm, CrossProcessBatchNorm2d)):
            bn = nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats, device="meta")
            if child.affine:
                bn.weight, bn.bias = child.weight, child.bias
            bn.running_mean, bn.running_var, bn.num_batches_tracked = child.running_mean, child.running_var, child.num_batches_tracked
            bn.train(child.training)
            setattr(module, name, bn)
        else:
            plain_batchnorm(child)
    return module
