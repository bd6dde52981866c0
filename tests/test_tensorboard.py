"""TensorBoard event files of single runs, read back with TensorBoard's own reader: scalars, images, text, resume."""

import json

import numpy as np
import pytest
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nasplatform.engine.config import RetrainConfig, SearchConfig, apply_overrides, from_dict
from nasplatform.engine.retrain import run_retrain
from nasplatform.engine.rundir import RunDirectory
from nasplatform.engine.search import resume_search, run_search
from nasplatform.engine.tensorboard import alpha_heatmap, log_evaluation, numeric_items, scalar_tag

TINY = ["n_cells=3", "hidden_dim=2", "ndf=4", "max_iters_per_epoch=2", "data.crop_size=32", "data.load_size=36"]


def read_events(folder) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def steps(events: EventAccumulator, tag: str, kind: str = "Scalars") -> list[int]:
    return [e.step for e in getattr(events, kind)(tag)]


def as_served(folder) -> plugin_event_accumulator.EventAccumulator:
    """The reader behind TensorBoard's web UI (scalars and text as tensors; restarts handled its own way)."""
    events = plugin_event_accumulator.EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return events


def texts(folder, tag: str) -> list[str]:
    return [e.tensor_proto.string_val[0].decode() for e in as_served(folder).Tensors(f"{tag}/text_summary")]


class Interrupt(Exception):
    pass


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_search_writes_every_epoch_and_resume_neither_duplicates_nor_loses(tiny_data, tmp_path):
    cfg = apply_overrides(
        from_dict(SearchConfig, {}), [f"data.root={tiny_data}", *TINY, "epochs=4", "checkpoint_every=2"]
    )
    run_dir = tmp_path / "run"

    def crash_after_3(row, checkpoint):  # epoch 3 is logged but not checkpointed (checkpoint_every=2)...
        if row["epoch"] == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_search(cfg, run_dir, on_epoch=crash_after_3, progress=False)
    resume_search(run_dir, progress=False)  # ...so the resumed run redoes epoch 3
    events = read_events(run_dir / "tb")
    tags = events.Tags()
    for tag in ("loss/loss_g", "loss/loss_cyc", "loss/loss_d_a", "lr/lr", "wall/wall_time_s"):
        assert steps(events, tag) == [1, 2, 3, 4], tag
    assert steps(events, "samples", "Images") == [1, 2, 3, 4]
    assert steps(events, "alpha/softmax", "Images") == [1, 2, 3, 4]
    assert "gumbel/gumbel_tau" not in tags["scalars"]  # NaN (no Gumbel softmax) is not logged
    # the value kept for epoch 3 is the resumed run's, which metrics.parquet holds too
    metrics = RunDirectory(run_dir).read_rows(RunDirectory(run_dir).metrics)
    assert [e.value for e in events.Scalars("loss/loss_g")] == pytest.approx([r["loss_g"] for r in metrics])
    served = as_served(run_dir / "tb")
    assert [e.step for e in served.Tensors("loss/loss_g")] == [1, 2, 3, 4]
    genotypes = texts(run_dir / "tb", "genotypes")
    assert len(genotypes) == 4 and json.loads(genotypes[-1].replace("\n    ", "\n")) == json.loads(
        (run_dir / "genotypes.json").read_text()
    )
    heat = events.Images("alpha/softmax")[0]
    assert heat.width > 100 and heat.height > 100


def test_retrain_and_evaluation(tiny_data, tmp_path):
    cfg = apply_overrides(
        from_dict(RetrainConfig, {}),
        [
            f"data.root={tiny_data}",
            "genotypes=cyclegan",
            "hidden_dim=2",
            "ndf=4",
            "n_epochs=1",
            "n_epochs_decay=1",
            "max_iters_per_epoch=2",
            "data.crop_size=32",
            "data.load_size=36",
        ],
    )
    run_dir = tmp_path / "run"
    run_retrain(cfg, run_dir, progress=False)
    events = read_events(run_dir / "tb")
    assert steps(events, "loss/loss_g") == [1, 2] and steps(events, "lr/lr") == [1, 2]
    assert [e.value for e in events.Scalars("lr/lr")] == pytest.approx([2e-4, 1e-4])  # the linear decay
    assert steps(events, "samples", "Images") == [1, 2]
    assert "alpha/softmax" not in events.Tags()["images"]  # a discrete network has no alphas

    # the evaluation's numbers, rewritten (not added to) by a second evaluation
    report = {"final": {"fid_a2b": 12.5, "kid_a2b": 0.01, "note": "text"}, "g_a": {"params": 1000}, "best_val": None}
    log_evaluation(RunDirectory(run_dir), report)
    report["final"]["fid_a2b"] = 11.0
    log_evaluation(RunDirectory(run_dir), report)
    evaluation = read_events(run_dir / "tb" / "evaluation")
    assert [(e.step, e.value) for e in evaluation.Scalars("evaluation/final/fid_a2b")] == [(2, 11.0)]
    assert steps(evaluation, "evaluation/g_a/params") == [2]
    assert '"fid_a2b": 11.0' in texts(run_dir / "tb" / "evaluation", "evaluation")[0]


def test_numeric_items_and_tags():
    row = {
        "epoch": 3,
        "loss_g": 1.5,
        "ok": True,
        "status": "ok",
        "gumbel_tau": float("nan"),
        "iterations": 2,
        "alpha_entropy_g_a": np.float32(0.5),
    }
    assert numeric_items(row) == {"loss_g": 1.5, "iterations": 2.0, "alpha_entropy_g_a": 0.5}
    assert scalar_tag("alpha_entropy_g_a") == "alpha/alpha_entropy_g_a" and scalar_tag("lr") == "lr/lr"


def test_alpha_heatmap_shows_one_panel_per_network():
    rows = [
        {"epoch": 1, "network": net, "mixed_op": slot, "op": op, "weight": w}
        for net in ("g_a", "d_a")
        for slot in range(3)
        for op, w in (("conv", 0.9), ("skip", 0.1))
    ]
    image = alpha_heatmap(rows)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert alpha_heatmap([]) is None


def test_tune_snapshot_carries_the_events_as_one_archive(tmp_path):
    import shutil

    from nasplatform.engine.tensorboard import EpochBoard
    from nasplatform.tune.trainables import unpack_tensorboard, write_snapshot

    run = RunDirectory(tmp_path / "run").prepare()
    board = EpochBoard(run, 1)
    for epoch in (1, 2):
        board.log_epoch({"epoch": epoch, "loss_g": float(epoch)}, [])
    board.close()
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()  # as Tune's temporary folder is
    write_snapshot(run, snapshot, 2)
    assert (snapshot / "tb.tar").is_file() and not list(snapshot.rglob("*tfevents*"))  # no extra TensorBoard runs

    # a retried trial starts from the snapshot alone, then logs epoch 3
    shutil.rmtree(run.root)
    shutil.copytree(snapshot, run.root)
    unpack_tensorboard(run.root)
    assert not (run.root / "tb.tar").exists()
    board = EpochBoard(run, 3)
    board.log_epoch({"epoch": 3, "loss_g": 3.0}, [])
    board.close()
    assert [(e.step, e.value) for e in read_events(run.tensorboard).Scalars("loss/loss_g")] == [
        (1, 1.0),
        (2, 2.0),
        (3, 3.0),
    ]
