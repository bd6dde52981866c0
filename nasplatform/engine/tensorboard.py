"""TensorBoard event files of a run (RUN_DIR/tb/): per-epoch scalars, sample grid, alpha heatmap, genotypes, evaluation.

Step = epoch everywhere, so a resumed run's writer purges what the crashed one wrote after the checkpoint it
resumes from (purge_step) instead of showing those epochs twice. Scalars are every finite numeric column of the
metrics row, tagged `<first word>/<column>` (loss/loss_g, alpha/alpha_entropy_g_a, val/val_fid_a2b, lr/lr, ...),
so columns added to metrics.parquet later appear without a change here. The evaluation (evaluation.json) goes
to RUN_DIR/tb/evaluation/, rewritten whole by each evaluation, at the step of the run's last epoch.
"""

from __future__ import annotations

import json
import math
import numbers
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nasplatform.engine.rundir import RunDirectory

#: Metrics columns that are not measurements of the epoch.
NOT_SCALARS = frozenset({"epoch"})
EVALUATION_FOLDER = "evaluation"


def scalar_tag(column: str) -> str:
    """TensorBoard groups tags by what precedes the first '/': group columns by their first word."""
    return f"{column.split('_')[0]}/{column}"


def numeric_items(row: dict) -> dict[str, float]:
    """The finite numbers of a metrics row (bools and strings such as genotypes and status left out)."""
    out = {}
    for key, value in row.items():
        if key in NOT_SCALARS or isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        if math.isfinite(float(value)):
            out[key] = float(value)
    return out


def alpha_heatmap(rows: list[dict]) -> np.ndarray | None:
    """softmax(alpha) of every mixed op (rows) and candidate op (columns) per network, as an RGB image (HWC uint8).

    `rows`: one epoch's alpha_history rows (network, mixed_op, op, weight). None when there are none."""
    if not rows:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    networks = list(dict.fromkeys(r["network"] for r in rows))
    tables = []
    for name in networks:
        mine = [r for r in rows if r["network"] == name]
        ops = list(dict.fromkeys(r["op"] for r in mine))
        slots = list(dict.fromkeys(r["mixed_op"] for r in mine))
        grid = np.full((len(slots), len(ops)), np.nan)
        for r in mine:
            grid[slots.index(r["mixed_op"]), ops.index(r["op"])] = r["weight"]
        tables.append((name, ops, slots, grid))
    height = max(3.0, 0.18 * max(len(t[2]) for t in tables) + 2.0)
    # white cells: ops that are not candidates of that mixed op (cell types have their own op sets)
    fig = Figure(figsize=(3.2 * len(tables) + 1, height), dpi=80, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(tables), squeeze=False)[0]
    for ax, (name, ops, slots, grid) in zip(axes, tables):
        image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto", interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(len(ops)), ops, rotation=90, fontsize=6)
        ax.set_yticks(range(len(slots)), [str(s) for s in slots], fontsize=5)
    fig.colorbar(image, ax=list(axes), fraction=0.03, label="softmax(alpha)")
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


class EventWriter:
    """One event file, written synchronously.

    tensorboardX's SummaryWriter hands events to a background thread through a queue, and its flush() does not
    wait for that queue: a Tune snapshot taken right after an epoch could then miss that epoch's sample grid
    and text. Here every add_* is on disk (in the file's buffer) when it returns and flush() writes the buffer.
    """

    def __init__(self, folder: Path, purge_step: int | None):
        # imported here: tensorboardX (and its protobufs) load only once a run writes events
        from tensorboardX import summary
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        folder.mkdir(parents=True, exist_ok=True)
        # file names hold whole seconds: two writers within one (a quick resume) would share a file and the second
        # would truncate it; the nanoseconds keep them apart and in the order they started
        self._file = EventsWriter(str(folder / "events"), filename_suffix=f".{time.time_ns() % 10**9:09d}")
        self._summary, self._event = summary, Event
        if purge_step is not None:
            # what SummaryWriter(purge_step=...) writes: a restart mark at that step hides later steps of before
            self._write(Event(step=purge_step, file_version="brain.Event:2"))
            self._write(Event(step=purge_step, session_log=SessionLog(status=SessionLog.START)))

    def _write(self, event) -> None:
        event.wall_time = time.time()
        self._file.write_event(event)

    def _add(self, summary, step: int) -> None:
        self._write(self._event(summary=summary, step=step))

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self._add(self._summary.scalar(tag, value), step)

    def add_image(self, tag: str, image: np.ndarray, step: int, dataformats: str = "HWC") -> None:
        self._add(self._summary.image(tag, image, dataformats=dataformats), step)

    def add_text(self, tag: str, text: str, step: int) -> None:
        self._add(self._summary.text(tag, text), step)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class EpochBoard:
    """The event file of one drive() of a run: opened at its first epoch, one log_epoch() per epoch."""

    def __init__(self, run: RunDirectory, first_epoch: int):
        self.run = run
        # every writer marks its start (a session-start event at its first epoch): TensorBoard takes the first
        # such mark as the start and each later one as a restart that hides the earlier events from there on
        self.writer = EventWriter(run.tensorboard, first_epoch)

    def log_epoch(self, row: dict, alpha_rows: list[dict]) -> None:
        """Scalars of `row`, this epoch's sample grid (if written), alpha heatmap (searches) and genotypes."""
        epoch = int(row["epoch"])
        for key, value in numeric_items(row).items():
            self.writer.add_scalar(scalar_tag(key), value, epoch)
        grid = self.run.samples / f"epoch_{epoch:04d}.png"
        if grid.is_file():
            with Image.open(grid) as image:
                self.writer.add_image("samples", np.asarray(image.convert("RGB")), epoch, dataformats="HWC")
        heatmap = alpha_heatmap([r for r in alpha_rows if r["epoch"] == epoch])
        if heatmap is not None:
            self.writer.add_image("alpha/softmax", heatmap, epoch, dataformats="HWC")
        if self.run.genotypes.is_file():
            self.writer.add_text("genotypes", as_markdown_code(self.run.genotypes.read_text()), epoch)
        self.flush()  # readers (TensorBoard, a Tune snapshot) see every finished epoch

    def flush(self) -> None:
        try:
            self.writer.flush()
        except OSError as exc:  # a full disk: the writer's fsync names no file, so name the event folder
            raise OSError(exc.errno, exc.strerror or str(exc), str(self.run.tensorboard)) from exc

    def close(self) -> None:
        try:
            self.writer.close()
        except OSError:
            # close() runs in drive()'s finally: an error here must not hide the one that ended the run, and the
            # events of every finished epoch were already flushed (log_epoch)
            pass


def as_markdown_code(text: str) -> str:
    """TensorBoard renders text as Markdown: an indented block keeps JSON as it is."""
    return "\n".join("    " + line for line in text.splitlines())


def _leaves(data: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_leaves(value, name + "/"))
        elif isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value)):
            out[name] = float(value)
    return out


def log_evaluation(run: RunDirectory, report: dict) -> Path:
    """evaluation.json's numbers (evaluation/final/fid_a2b, ...) and whole text in RUN_DIR/tb/evaluation/, at the
    run's last epoch; an earlier evaluation's events there are replaced, not added to."""
    folder = run.tensorboard / EVALUATION_FOLDER
    for old in folder.glob("events.out.tfevents.*"):
        old.unlink()
    epochs = [int(r["epoch"]) for r in run.read_rows(run.metrics)]
    step = max(epochs, default=0)
    writer = EventWriter(folder, None)
    try:
        for key, value in _leaves(report).items():
            writer.add_scalar(f"evaluation/{key}", value, step)
        writer.add_text("evaluation", as_markdown_code(json.dumps(report, indent=2, sort_keys=True)), step)
    finally:
        writer.close()
    return folder
