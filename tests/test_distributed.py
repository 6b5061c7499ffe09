"""One run on several processes (DDP over gloo on the CPU): the same result as one process, only process 0
writes, exact resume, resume on another number of processes, and a killed process ends the whole job.

The multi-process tests are marked slow (each start costs two Python processes importing torch). They
use 16 px images: at 8 px D has no BatchNorm layer, and D's BatchNorm is what DDP makes delicate.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file
from torch import nn

from conftest import PYTHON, ROOT, run_module_env
from gan_core import train
from gan_core.training import TrainConfig, load_checkpoint
from gan_core.training.distributed import CrossProcessBatchNorm2d, launch_from_env, process_device, split_batch
from gan_core.training.trainer import Trainer

# The CLI's synthetic set at 16 px: 256 images, 16 steps per epoch of 16.
TINY_ARGS = ["--dataset", "synthetic", "--image-size", "16", "--g-features", "4", "--d-features", "4", "--latent-dim", "8",
             "--batch-size", "16", "--log-every", "4", "--no-progress", "--device", "cpu", "--no-onnx", "--num-fixed", "4",
             "--bn-calibration-batches", "2"]  # fmt: skip
# A 2-process run with --sync-batchnorm computes the single-process run's quantities with its float sums in
# another order (half-batch sums all-reduced, BatchNorm statistics in float64): about 1e-8 apart after 8 steps
# here. Adam turns tiny gradient differences into update differences of up to lr (2e-4) where a gradient is
# near 0, so the bound leaves room for that while catching any real difference (a wrong share, a missing
# all_reduce: 1e-3 and more).
TOLERANCE = 1e-5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def weights(out_dir: Path) -> tuple[int, dict]:
    state = load_checkpoint(out_dir / "checkpoint.pt")
    return state["step"], {f"{part}.{k}": v for part in ("generator", "discriminator", "ema") for k, v in state[part].items()}


def log_records(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "train_log.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------------- fast: the pieces


def test_torchrun_environment_is_read_and_one_process_is_a_plain_run():
    assert launch_from_env({}) is None
    assert launch_from_env({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}) is None
    launch = launch_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (launch.rank, launch.world_size, launch.local_rank, launch.num_nodes) == (3, 4, 1, 2)
    with pytest.raises(ValueError, match="RANK"):
        launch_from_env({"RANK": "two", "WORLD_SIZE": "4"})
    with pytest.raises(ValueError, match="do not fit"):
        launch_from_env({"RANK": "4", "WORLD_SIZE": "4", "LOCAL_RANK": "0"})


def test_the_global_batch_must_split_evenly_over_the_processes():
    assert split_batch(128, 4) == 32
    with pytest.raises(ValueError, match=r"--batch-size 16 does not split evenly over 3 processes.*15 or 18"):
        split_batch(16, 3)


def test_each_process_takes_its_own_device():
    if not torch.cuda.is_available():
        assert process_device("auto", 1) == torch.device("cpu")
    assert process_device("cpu", 3) == torch.device("cpu")
    for bad, reason in (("cuda:1", "LOCAL_RANK"), ("mps", "cuda \\(NCCL\\) or cpu"), ("tpu", "Unknown device")):
        with pytest.raises(ValueError, match=reason):
            process_device(bad, 0)


def test_the_multi_process_flags_are_config_fields():
    args = train.build_parser().parse_args(["--sync-batchnorm", "--collective-timeout", "30"])
    config = TrainConfig.from_flat(**train.given_values(args))
    assert config.run.sync_batchnorm is True and config.run.collective_timeout == 30
    assert TrainConfig().run.sync_batchnorm is False
    with pytest.raises(ValueError, match="collective_timeout"):
        TrainConfig.from_flat(collective_timeout=0)


def test_cross_process_batchnorm_on_one_process_is_batchnorm(tmp_path):
    """Forward, gradients and running statistics equal nn.BatchNorm2d's (the 2-process case is the slow test below)."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        plain = nn.BatchNorm2d(3)
        nn.init.normal_(plain.weight)
        nn.init.normal_(plain.bias)
        ours = CrossProcessBatchNorm2d.from_batchnorm(nn.BatchNorm2d(3), group=None)
        ours.load_state_dict(plain.state_dict())
        x = torch.randn(5, 3, 4, 4) * 3 + 1
        x_plain, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
        out_plain, out_ours = plain(x_plain), ours(x_ours)
        torch.testing.assert_close(out_ours, out_plain, atol=1e-5, rtol=1e-5)
        grad = torch.randn_like(out_plain)
        out_plain.backward(grad)
        out_ours.backward(grad)
        for a, b in ((x_ours.grad, x_plain.grad), (ours.weight.grad, plain.weight.grad), (ours.bias.grad, plain.bias.grad)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            torch.testing.assert_close(getattr(ours, name), getattr(plain, name))
        ours.eval(), plain.eval()
        torch.testing.assert_close(ours(x), plain(x))
    finally:
        dist.destroy_process_group()


# --------------------------------------------------------------------------- slow: two processes


def _rank_worker(rank: int, port: int, argv: list[str], out_dir: str, report_dir: str) -> None:
    """One process of a 2-process run, as torchrun would start it (its environment), through the CLI's main().

    Process 1 records every audited file operation on a path inside out_dir (it must have none); each
    process saves its exported generator (the recalibrated EMA) to compare them.
    """
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2")
    torch.set_num_threads(1)
    touched = []
    if rank != 0:

        def audit(event, args):
            if any(isinstance(a, (str, os.PathLike)) and os.fspath(a).startswith(out_dir) for a in args):
                touched.append(f"{event} {args}")

        sys.addaudithook(audit)
    trainers = []
    original_train = Trainer.train

    def keep(self):
        trainers.append(self)
        return original_train(self)

    Trainer.train = keep
    code = train.main(argv)
    exported = {k: v.clone() for k, v in trainers[0].ema_generator().state_dict().items()}
    torch.save({"code": code, "touched": touched, "exported": exported}, Path(report_dir) / f"rank{rank}.pt")


@pytest.mark.slow
def test_two_processes_equal_one_process_of_the_same_global_batch(tmp_path):
    # fp32: bf16 autocast (the default on CPUs with bf16 hardware) rounds the two sums differently, ~3e-4 apart.
    args = [*TINY_ARGS, "--steps", "8", "--sync-batchnorm", "--amp", "off"]
    assert train.main([*args, "--out-dir", str(tmp_path / "one")]) == 0
    reports = tmp_path / "reports"
    reports.mkdir()
    two = tmp_path / "two"
    torch.multiprocessing.spawn(_rank_worker, args=(free_port(), [*args, "--out-dir", str(two)], str(two), str(reports)), nprocs=2)
    rank0, rank1 = (torch.load(reports / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0["code"] == rank1["code"] == 0
    assert rank1["touched"] == [], "process 1 touched the out_dir"
    # The EMA is updated from DDP's parameters (the same on every process) and recalibrated with the same noise.
    assert all(torch.equal(rank0["exported"][k], rank1["exported"][k]) for k in rank0["exported"])

    step_one, one = weights(tmp_path / "one")
    step_two, two_weights = weights(two)
    assert step_one == step_two == 8
    worst = max((one[k].float() - two_weights[k].float()).abs().max().item() for k in one)
    assert worst < TOLERANCE, f"2 processes differ from 1 by {worst}"
    exported_one, exported_two = load_file(tmp_path / "one" / "generator" / "model.safetensors"), load_file(two / "generator" / "model.safetensors")
    assert max((exported_one[k].float() - exported_two[k].float()).abs().max().item() for k in exported_one) < TOLERANCE
    # Logged losses are the means over both processes' shares: the single-process batch means.
    records_one, records_two = log_records(tmp_path / "one"), log_records(two)
    assert [r["step"] for r in records_two] == [r["step"] for r in records_one] == [4, 8]
    assert all(r["processes"] == 2 for r in records_two)
    for a, b in zip(records_one, records_two):
        for name in ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_after"):
            assert abs(a[name] - b[name]) <= 2e-5, (name, a[name], b[name])
    assert load_checkpoint(two / "checkpoint.pt")["world_size"] == 2
    assert "torchrun --nproc_per_node=2 -m gan_core.train" in json.loads((two / "generator" / "run.json").read_text())["commands"][0]


def torchrun(out_dir: Path, *extra: str, nproc: int = 2) -> list[str]:
    return [PYTHON, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "gan_core.train", *TINY_ARGS, "--out-dir", str(out_dir), *extra]


def run_torchrun(out_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run(torchrun(out_dir, *extra), check=False, env=run_module_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def torchrun_runs(tmp_path_factory):
    """Through torchrun (per-process BatchNorm, the default): 12 steps at once, and 6 steps then --resume to 12."""
    root = tmp_path_factory.mktemp("torchrun")
    run_torchrun(root / "whole", "--steps", "12")
    run_torchrun(root / "part", "--steps", "6")
    shutil.copytree(root / "part", root / "part_at_6")
    run_torchrun(root / "part", "--steps", "12", "--resume")
    return root


@pytest.mark.slow
def test_resume_on_two_processes_continues_exactly(torchrun_runs):
    step_whole, whole = weights(torchrun_runs / "whole")
    step_resumed, resumed = weights(torchrun_runs / "part")
    assert step_whole == step_resumed == 12
    different = [k for k in whole if not torch.equal(whole[k], resumed[k])]
    assert not different, f"the resumed run differs in {different[:5]}"
    exported = [load_file(torchrun_runs / run / "generator" / "model.safetensors") for run in ("whole", "part")]
    assert all(torch.equal(exported[0][k], exported[1][k]) for k in exported[0])
    assert [r["step"] for r in log_records(torchrun_runs / "part")] == [4, 6, 8, 12]
    commands = json.loads((torchrun_runs / "part" / "generator" / "run.json").read_text())["commands"]
    assert len(commands) == 2 and all(c.startswith("torchrun --nproc_per_node=2") for c in commands)


@pytest.mark.slow
def test_a_run_folder_is_refused_once_by_process_0(torchrun_runs):
    before = {p: p.read_bytes() for p in (torchrun_runs / "whole").rglob("*") if p.is_file()}
    done = subprocess.run(torchrun(torchrun_runs / "whole", "--steps", "4"), check=False, env=run_module_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "already holds a run" in errors[0] and "--resume" in errors[0], done.stderr[-3000:]
    assert "[rank0]: Traceback" not in done.stderr and "[rank1]: Traceback" not in done.stderr  # torchrun's own summary follows
    assert {p: p.read_bytes() for p in (torchrun_runs / "whole").rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_resume_on_another_number_of_processes_continues_with_a_warning(torchrun_runs, tmp_path, caplog):
    """Decided: it works (the global batch, data order and optimiser state do not depend on the process count)."""
    out = tmp_path / "one"
    shutil.copytree(torchrun_runs / "part_at_6", out)
    assert train.main([*TINY_ARGS, "--out-dir", str(out), "--steps", "12", "--resume"]) == 0
    assert "written by a run on 2 process(es) and continues on 1" in caplog.text
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 12 and state["world_size"] == 1
    assert [r["step"] for r in log_records(out)] == [4, 6, 8, 12]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _local_rank(pid: int) -> str | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    return next((e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"LOCAL_RANK=")), None)


@pytest.mark.slow
def test_a_killed_process_ends_the_whole_job_quickly(tmp_path):
    out = tmp_path / "run"
    job = subprocess.Popen(torchrun(out, "--steps", "100000", "--collective-timeout", "30"), env=run_module_env(), cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "train_log.jsonl").exists():  # training is under way
            assert job.poll() is None, job.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the job did not start training"
            time.sleep(0.1)
        workers = {_local_rank(pid): pid for pid in _children(job.pid)}
        os.kill(workers["1"], signal.SIGKILL)
        killed_at = time.monotonic()
        _, stderr = job.communicate(timeout=120)
        took = time.monotonic() - killed_at
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert job.returncode != 0
    assert "SIGKILL" in stderr and "local_rank: 1" in stderr, stderr[-3000:]
    assert took < 60, f"the job took {took:.0f} s to fail"
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers.values()), "a worker outlived the job"
