"""Training faults a user can cause: each ends in one sentence (exit 2 on the command line, a ValueError or
OSError in the library), never a traceback, and never costs a finished run.

Classes: a run folder reused without --resume, an out_dir that cannot be written, a full disk, a damaged or
tampered checkpoint, a torn log line, and a run too short for --log-every.
"""

import errno
import io
import json
import logging
import os
import shutil
import zipfile

import pytest
import torch

from gan_core import train
from gan_core.core.data import make_synthetic
from gan_core.training import TrainConfig, Trainer, load_checkpoint
from gan_core.training import checkpoint as checkpoint_module
from gan_core.training import trainer as trainer_module
from gan_core.training.checkpoint import CHECKPOINT_MAGIC, OutputWriteError, check_checkpoint, encode_checkpoint

TINY = {"dataset": "synthetic", "image_size": 8, "channels": 1, "g_features": 4, "d_features": 4, "latent_dim": 8, "batch_size": 16,
        "log_every": 4, "num_fixed": 4, "bn_calibration_batches": 2, "progress": False, "onnx": False, "device": "cpu"}
TINY_ARGS = ["--dataset", "synthetic", "--image-size", "8", "--g-features", "4", "--d-features", "4", "--latent-dim", "8",
             "--batch-size", "16", "--log-every", "4", "--no-progress", "--device", "cpu", "--no-onnx", "--num-fixed", "4",
             "--bn-calibration-batches", "2"]
TORCH_DISK_FULL = RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/0: file write failed")


def tiny_trainer(out_dir, overwrite=False, checkpoint=None, **overrides):
    """A trainer on 64 synthetic 8 px images: 4 steps per epoch."""
    config = TrainConfig.from_flat(**(TINY | {"out_dir": str(out_dir)} | overrides))
    return Trainer.create(config, data=make_synthetic(64, 8, 1), command="pytest", checkpoint=checkpoint, overwrite=overwrite)


def cli(argv, capsys):
    """train.main -> (exit code, stderr); a SystemExit is an exit code too."""
    try:
        code = train.main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def assert_one_sentence(err):
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def log_steps(out_dir):
    return [json.loads(line)["step"] for line in (out_dir / "train_log.jsonl").read_text().splitlines()]


@pytest.fixture
def finished_run(tmp_path, capsys):
    """A finished one-epoch CLI run (the CLI's synthetic set: 256 images, 16 steps per epoch) with snapshots."""
    out = tmp_path / "run"
    assert train.main([*TINY_ARGS, "--epochs", "1", "--keep-snapshots", "--out-dir", str(out)]) == 0
    capsys.readouterr()
    return out


# --------------------------------------------------------------------------- 1. a run is never destroyed unasked


def test_a_second_run_into_a_run_folder_is_refused_and_keeps_the_run(finished_run, capsys):
    before = {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file()}
    code, err = cli([*TINY_ARGS, "--steps", "4", "--out-dir", str(finished_run)], capsys)
    assert code == 2
    line = assert_one_sentence(err)
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line
    assert {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file()} == before


def test_overwrite_starts_over_and_removes_only_what_a_run_writes(finished_run, capsys):
    (finished_run / "notes.txt").write_text("mine")
    (finished_run / "timeline" / "epoch_009.png").write_bytes(b"old picture")
    code, err = cli([*TINY_ARGS, "--steps", "3", "--out-dir", str(finished_run), "--overwrite"], capsys)
    assert code == 0, err
    assert (finished_run / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (finished_run / "timeline").iterdir()) == ["epoch_001.png"]  # the 3-step run's partial epoch
    assert not (finished_run / "snapshots").exists()
    assert log_steps(finished_run) == [3]
    state = load_checkpoint(finished_run / "checkpoint.pt")
    assert state["step"] == 3 and len(state["commands"]) == 1


def test_a_run_killed_before_its_first_checkpoint_is_refused_not_appended_to(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "train_log.jsonl").write_text('{"step": 4, "loss_d": 1.0}\n')  # what a killed run leaves
    code, err = cli([*TINY_ARGS, "--steps", "4", "--out-dir", str(out)], capsys)
    assert code == 2 and "--overwrite" in assert_one_sentence(err)
    code, err = cli([*TINY_ARGS, "--steps", "4", "--out-dir", str(out), "--resume"], capsys)
    assert code == 2 and "before its first checkpoint" in assert_one_sentence(err)
    assert cli([*TINY_ARGS, "--steps", "4", "--out-dir", str(out), "--overwrite"], capsys)[0] == 0
    assert log_steps(out) == [4]  # the new run's step 4, once


def test_resume_and_overwrite_exclude_each_other(tmp_path, capsys):
    code, err = cli([*TINY_ARGS, "--resume", "--overwrite", "--out-dir", str(tmp_path)], capsys)
    assert code == 2 and "not allowed with argument" in err


def test_the_library_refuses_too_and_removes_the_old_run_only_once_the_new_one_is_set_up(tmp_path):
    tiny_trainer(tmp_path / "run", steps=4).train()
    with pytest.raises(ValueError, match="already holds a run"):
        tiny_trainer(tmp_path / "run", steps=2)
    with pytest.raises(ValueError, match="cannot be built"):  # a mistake in the new run keeps the old one
        tiny_trainer(tmp_path / "run", steps=2, overwrite=True, image_size=30)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 4
    tiny_trainer(tmp_path / "run", steps=2, overwrite=True).train()
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 2


def test_a_dry_run_replaces_its_own_default_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert cli(["--dry-run", "--steps", "2", "--no-progress", "--no-onnx"], capsys)[0] == 0
    assert log_steps(tmp_path / "runs" / "dry-run") == [2]


# --------------------------------------------------------------------------- 2. the output folder, before any work


def _no_data_loading(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("data was loaded before the out_dir was checked")

    monkeypatch.setattr(trainer_module, "load_dataset", boom)


def test_an_out_dir_inside_a_file_is_refused_before_the_data_loads(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("x")
    _no_data_loading(monkeypatch)
    code, err = cli([*TINY_ARGS, "--epochs", "1", "--out-dir", str(tmp_path / "file" / "run")], capsys)
    assert code == 2 and "is a file, not a folder" in assert_one_sentence(err)


def test_a_read_only_out_dir_is_refused_before_the_data_loads(tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: stand in for a read-only folder
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if str(path) == str(locked) else real_access(path, mode, **kw))
    else:
        locked.chmod(0o500)
    _no_data_loading(monkeypatch)
    for out in (locked, locked / "new" / "run"):
        code, err = cli([*TINY_ARGS, "--epochs", "1", "--out-dir", str(out)], capsys)
        assert code == 2 and "read-only" in assert_one_sentence(err)
    locked.chmod(0o700)


# --------------------------------------------------------------------------- 3. a full disk


@pytest.fixture
def one_epoch(tmp_path):
    """A trainer that has run one epoch (checkpoint at step 4) and the checkpoint's bytes."""
    trainer = tiny_trainer(tmp_path / "run", epochs=1)
    trainer.train()
    return trainer, (tmp_path / "run" / "checkpoint.pt").read_bytes()


def test_a_full_disk_removes_the_temporary_file_and_keeps_the_previous_checkpoint(one_epoch, monkeypatch):
    trainer, before = one_epoch
    path = trainer.out_dir / "checkpoint.pt"
    trainer.step = 5

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # the payload is written, the disk refuses to keep it
    with pytest.raises(OutputWriteError) as caught:
        trainer.save_checkpoint()
    message = str(caught.value)
    assert "disk is full" in message and str(path) in message and "needed" in message and "step 4 is intact" in message
    assert "\n" not in message
    assert path.read_bytes() == before and not path.with_name("checkpoint.pt.tmp").exists()
    assert load_checkpoint(path)["step"] == 4


def test_torch_s_write_failure_is_said_as_a_full_disk_too(one_epoch, monkeypatch):
    trainer, before = one_epoch

    def fails(*args, **kwargs):
        raise TORCH_DISK_FULL

    monkeypatch.setattr(torch, "save", fails)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 0))
    with pytest.raises(OutputWriteError, match="disk is full.*checkpoint.pt"):
        trainer.save_checkpoint()
    assert (trainer.out_dir / "checkpoint.pt").read_bytes() == before
    assert not (trainer.out_dir / "checkpoint.pt.tmp").exists()


def test_a_full_disk_mid_run_exits_2_with_a_sentence_and_resume_finishes_the_run(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    real_fsync, calls = os.fsync, []

    def fsync_until_full(fd):
        calls.append(fd)
        if len(calls) > 1:  # the first checkpoint (epoch 1: step 16) fits, the second does not
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_until_full)
    code, err = cli([*TINY_ARGS, "--epochs", "2", "--out-dir", str(out)], capsys)
    line = assert_one_sentence(err)
    assert code == 2 and "disk is full" in line and "step 16 is intact" in line and "--resume" in line
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 16 and not (out / "checkpoint.pt.tmp").exists()
    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed
    assert cli([*TINY_ARGS, "--epochs", "2", "--out-dir", str(out), "--resume"], capsys)[0] == 0
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 32 and (out / "generator" / "model.safetensors").exists()
    assert log_steps(out) == list(range(4, 33, 4))


# --------------------------------------------------------------------------- 4. checkpoint integrity


def test_a_flipped_byte_is_refused_as_damaged(one_epoch, capsys):
    trainer, before = one_epoch
    path = trainer.out_dir / "checkpoint.pt"
    assert before.startswith(CHECKPOINT_MAGIC)
    damaged = bytearray(before)
    damaged[len(damaged) // 2] ^= 0x01
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="damaged.*SHA-256"):
        load_checkpoint(path)
    code, err = cli([*TINY_ARGS, "--epochs", "2", "--out-dir", str(trainer.out_dir), "--resume"], capsys)
    line = assert_one_sentence(err)
    assert code == 2 and str(path) in line and "damaged" in line
    path.write_bytes(before[: len(before) // 3])  # an incomplete copy
    with pytest.raises(ValueError, match="damaged"):
        load_checkpoint(path)


def test_format_2_checkpoints_still_resume_and_their_crcs_are_checked(one_epoch, tmp_path):
    trainer, _ = one_epoch
    legacy = tmp_path / "legacy.pt"
    torch.save(trainer.state_dict() | {"format": 2}, legacy)  # how format 2 was written: a bare torch.save zip
    state = load_checkpoint(legacy)
    assert state["format"] == 2 and state["step"] == 4
    resumed = tiny_trainer(tmp_path / "run", epochs=2, checkpoint=state)
    assert resumed.train()["step"] == 8
    raw = bytearray(legacy.read_bytes())
    with zipfile.ZipFile(legacy) as archive:
        largest = max(archive.infolist(), key=lambda member: member.file_size)
        stored = archive.read(largest)
    start = raw.index(stored)
    raw[start + len(stored) // 2] ^= 0x01  # one bit inside the largest stored tensor
    legacy.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="damaged"):
        load_checkpoint(legacy)


def _framed(tmp_path, state, name="tampered.pt"):
    path = tmp_path / name
    path.write_bytes(b"".join(bytes(part) for part in encode_checkpoint(state)))
    return path


def _tampered_states(state):
    """(what was done, the state, a phrase the refusal must contain)."""
    wrong_config = json.loads(json.dumps(state["config"]))
    wrong_config["model"]["g_features"] = 5
    bad_opt = {**state["opt_g"], "state": {**state["opt_g"]["state"], 0: {**state["opt_g"]["state"][0], "exp_avg": torch.zeros(3)}}}
    return [
        ("format only", {"format": 3}, "lacks config"),
        ("no opt_g", {k: v for k, v in state.items() if k != "opt_g"}, "lacks opt_g"),
        ("config against its tensors", state | {"config": wrong_config}, "generator weights do not match"),
        ("step as text", state | {"step": "4"}, "step is '4'"),
        ("weights as a list", state | {"generator": [1, 2]}, "generator weights"),
        ("a weight of the wrong shape", state | {"ema": state["ema"] | {"net.0.weight": torch.zeros(2, 2)}}, "net.0.weight has shape"),
        ("optimizer state of the wrong shape", state | {"opt_g": bad_opt}, "exp_avg of parameter 0"),
        ("a broken config", state | {"config": {"model": 3}}, "training config is invalid"),
        ("fixed noise of another width", state | {"fixed_noise": torch.zeros(4, 3)}, "fixed noise"),
        ("random state", state | {"rng": {"torch": torch.zeros(3, dtype=torch.uint8), "cuda": []}}, "random number generator"),
    ]


def test_tampered_checkpoints_are_refused_with_a_sentence(one_epoch, tmp_path, capsys):
    trainer, _ = one_epoch
    for what, state, phrase in _tampered_states(trainer.state_dict()):
        path = _framed(tmp_path, state)
        with pytest.raises(ValueError) as caught:
            load_checkpoint(path)
        message = str(caught.value)
        assert phrase in message and str(path) in message and "\n" not in message, (what, message)
        with pytest.raises(ValueError, match="resume checkpoint"):  # the same check when a dict is handed to the Trainer
            tiny_trainer(tmp_path / "other", epochs=2, checkpoint=state)
    code, err = cli([*TINY_ARGS, "--epochs", "2", "--resume", str(path), "--out-dir", str(tmp_path / "fresh")], capsys)
    assert code == 2 and "not a usable gan_core checkpoint" in assert_one_sentence(err)


def test_files_that_are_not_checkpoints_are_refused(tmp_path):
    for name, content in (("text.pt", b"hello"), ("empty.pt", b""), ("magic_only.pt", CHECKPOINT_MAGIC)):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=name):
            load_checkpoint(tmp_path / name)
    buffer = io.BytesIO()
    torch.save([1, 2, 3], buffer)
    (tmp_path / "list.pt").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="not a gan_core checkpoint"):
        load_checkpoint(tmp_path / "list.pt")
    with pytest.raises(ValueError, match="not a dict"):
        check_checkpoint([1])


# --------------------------------------------------------------------------- 5. a torn log line


def test_a_full_disk_mid_append_leaves_no_half_record(one_epoch, monkeypatch):
    trainer, _ = one_epoch
    log = trainer.out_dir / "train_log.jsonl"
    before = log.read_bytes()

    class HalfWrite:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, text):
            self.handle.write(text[: len(text) // 2])
            self.handle.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module, "open", lambda *a, **kw: HalfWrite(open(*a, **kw)), raising=False)  # noqa: SIM115 - closed by HalfWrite.__exit__
    with pytest.raises(OutputWriteError, match="disk is full.*train_log.jsonl"):
        trainer._log({"step": 5, "loss_d": 1.0})
    assert log.read_bytes() == before


@pytest.mark.parametrize("torn", [b'{"step": 9, "loss_d": 0.6', b"\x00\xff\xfe garbage", b'"just a string"', b'{"step": "x"}'])
def test_a_torn_log_line_is_dropped_with_a_warning_on_resume(one_epoch, caplog, torn):
    trainer, _ = one_epoch
    log = trainer.out_dir / "train_log.jsonl"
    with open(log, "ab") as handle:
        handle.write(b'{"step": 5, "loss_d": 1.0}\n' + torn)  # a replayed record, then a torn last line
    state = load_checkpoint(trainer.out_dir / "checkpoint.pt")
    with caplog.at_level(logging.WARNING, logger="gan_core.training.checkpoint"):
        resumed = tiny_trainer(trainer.out_dir, epochs=2, checkpoint=state)
    assert any(str(log) in r.getMessage() and "unreadable" in r.getMessage() for r in caplog.records)
    resumed.train()
    assert log_steps(trainer.out_dir) == [4, 8]


# --------------------------------------------------------------------------- 6. any run leaves curves


def test_a_run_shorter_than_log_every_still_logs_and_plots(tmp_path):
    tiny_trainer(tmp_path / "run", steps=3, log_every=50).train()
    records = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3] and records[0]["images_per_sec"] > 0
    assert (tmp_path / "run" / "loss.png").exists()


def test_epoch_ends_and_invocation_ends_are_logged_once_each(tmp_path):
    tiny_trainer(tmp_path / "run", epochs=2, log_every=3).train()  # 4 steps per epoch
    assert log_steps(tmp_path / "run") == [3, 4, 6, 8]


def test_a_stopped_invocation_logs_its_last_steps_and_the_resume_does_not_repeat_them(tmp_path):
    trainer = tiny_trainer(tmp_path / "run", epochs=3, log_every=50)
    update = trainer.ema.update

    def stop_at_6(model, step):
        update(model, step)
        if step + 1 == 6:
            trainer.request_stop()

    trainer.ema.update = stop_at_6
    assert trainer.train()["interrupted"]
    assert log_steps(tmp_path / "run") == [4, 6]
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    tiny_trainer(tmp_path / "run", epochs=3, log_every=50, checkpoint=state).train()
    assert log_steps(tmp_path / "run") == [4, 6, 8, 12]
