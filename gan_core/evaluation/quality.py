"""How good is a generator: its samples scored against real data, each metric beside its floor.

The floor of a metric is the same metric for real test images against the same training images.
The feature extractor is the dataset's evaluation classifier (``weights/classifiers/<dataset>``,
trained by ``python -m gan_core.train_classifier``), or, for a folder of pictures (no labels, no
classifier) and on request, the fixed random CNN of :mod:`gan_core.evaluation.label_free`.
The command is ``python -m gan_core.evaluate``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from gan_core.core import hub
from gan_core.core.data import load_dataset, parse_dataset_name
from gan_core.evaluation.classifier import Classifier
from gan_core.evaluation.label_free import HELD_OUT_FRACTION, LABEL_FREE_INFO, LabelFreeReference, split_folder
from gan_core.evaluation.metrics import METRIC_INFO, Reference
from gan_core.pipeline import GanPipeline

CLASSIFIER_ROOT = Path(__file__).resolve().parents[2] / "weights" / "classifiers"


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when inside it, so cards and JSON carry no machine paths."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def default_classifier_dir(dataset: str) -> Path:
    """weights/classifiers/<name>: the shipped classifier of an IDX dataset (folder datasets have none)."""
    return CLASSIFIER_ROOT / parse_dataset_name(dataset).key


def build_reference(
    dataset: str,
    classifier: Classifier,
    *,
    data_dir: str | None = None,
    num: int = 10_000,
    seed: int = 0,
    download: bool = False,
    **reference_kwargs,
) -> Reference:
    """Load both splits of ``dataset`` and draw the reference (train) and floor (test) samples."""
    train = load_dataset(dataset, split="train", data_dir=data_dir, download=download)
    test = load_dataset(dataset, split="test", data_dir=data_dir, download=download)
    if classifier.channels != train.channels:
        raise ValueError(f"the classifier takes {classifier.channels}-channel images, but {dataset} has {train.channels}.")
    return Reference.build(classifier, train.images, test.images, num, seed=seed, **reference_kwargs)


def is_folder(dataset: str) -> bool:
    """Whether ``dataset`` is a folder of pictures (``folder:PATH``): no labels, no test split, no classifier."""
    return parse_dataset_name(dataset).key == "folder"


def folder_path(dataset: str) -> Path:
    """The folder of a ``folder:PATH`` dataset, ``~`` expanded."""
    return Path(parse_dataset_name(dataset).arg).expanduser()


def build_label_free_reference(
    dataset: str,
    *,
    image_size: int,
    channels: int,
    data_dir: str | None = None,
    num: int = 10_000,
    seed: int = 0,
    download: bool = False,
    **reference_kwargs,
) -> tuple[LabelFreeReference, str]:
    """The label-free reference of ``dataset`` at the generator's size and channels, and one sentence saying what the two real sides are.

    A folder is loaded as training loaded it (short side resized, centre-cropped) and split by
    :func:`split_folder`; a dataset with splits uses its train and test splits.
    """
    if is_folder(dataset):
        pictures = load_dataset(dataset, image_size=image_size, channels=channels, download=download).images
        train_index, held_index = split_folder(pictures)
        reference = LabelFreeReference.build(
            pictures[train_index], pictures[held_index], num, test_seen=True, seed=seed, **reference_kwargs
        )
        sides = (
            f"the floor's real side is the {len(held_index):,} pictures held out of the folder's {len(pictures):,} "
            f"({HELD_OUT_FRACTION:.0%} with the smallest SHA-256 of their pixels), the reference is drawn from the other {len(train_index):,}"
        )
        return reference, sides
    train = load_dataset(dataset, split="train", data_dir=data_dir, image_size=image_size, channels=channels, download=download)
    test = load_dataset(dataset, split="test", data_dir=data_dir, image_size=image_size, channels=channels, download=download)
    reference = LabelFreeReference.build(train.images, test.images, num, seed=seed, **reference_kwargs)
    return (
        reference,
        f"the reference is drawn from the {len(train):,} training images, the floor's real side from the {len(test):,} test images",
    )


def not_available(dataset: str) -> str:
    """One line: what the label-free path does not measure, and why."""
    why = "a folder of pictures has neither" if is_folder(dataset) else "--features random leaves the classifier out"
    return f"class KL, classes hit and the Inception-Score analogue: they need labels and a classifier of {dataset} ({why})."


def check_compatible(pipeline: GanPipeline, reference: Reference, dataset: str) -> None:
    """ValueError unless the generator makes pictures of the reference's shape."""
    shape = tuple(reference.train_sample.shape[1:])
    made = (pipeline.channels, pipeline.image_size, pipeline.image_size)
    if made != shape:
        raise ValueError(
            f"the generator makes {made[0]}x{made[1]}x{made[2]} images but {dataset} images are "
            f"{shape[0]}x{shape[1]}x{shape[2]}; evaluate a generator trained on {dataset}."
        )


def evaluate(pipeline: GanPipeline, reference: Reference | LabelFreeReference, seed: int = 0, noise: str | None = None) -> dict:
    """Metrics of ``reference.num`` samples of the pipeline and of the real floor: {"generated", "floor"}."""
    images = pipeline.generate(reference.num, seed, noise=noise).uint8  # (N, C, H, W) uint8
    return {"generated": reference.score(images), "floor": reference.floor()}


def _fmt(name: str, value) -> str:
    if isinstance(value, (bool, int)):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if name == "kid" else f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"


def label_free(result: dict) -> bool:
    """Whether ``result`` was measured by the label-free path (random-CNN features)."""
    return result.get("features") == "random"


def table_rows(result: dict) -> list[tuple[str, str, str, str]]:
    """[header, (metric, better, generated, floor), ...] of a result of :func:`evaluate`."""
    if label_free(result):
        floor = "floor (held-out pictures)" if is_folder(result["dataset"]) else "floor (real test)"
        info = {
            name: (label.format(features=result["feature_space"].split(" ")[0]), better)
            for name, (label, better) in LABEL_FREE_INFO.items()
        }
    else:
        floor, info = "floor (real test)", METRIC_INFO
    rows = [("metric", "better", "generated", floor)]
    for name, (label, better) in info.items():
        rows.append((label, better, _fmt(name, result["generated"][name]), _fmt(name, result["floor"][name])))
    rows.append(("memorisation flag", "False", str(result["generated"]["memorisation_flag"]), str(result["floor"]["memorisation_flag"])))
    return rows


def format_table(result: dict, markdown: bool = False) -> str:
    """A metric | generated | floor table (``result`` as returned by :func:`evaluate`)."""
    rows = table_rows(result)
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)


def summary(result: dict) -> str:
    """One paragraph: how the metrics were measured."""
    if label_free(result):
        return (
            f"Measured on {result['num']:,} samples (seed {result['seed']}) against {result['num']:,} real "
            f"{result['dataset']} pictures, in the feature space `{result['feature_space']}`: a fixed, randomly initialised CNN "
            "(no labels or downloaded weights needed; Naeem et al. 2020), so the numbers compare models of this dataset scored the "
            f"same way, not FIDs from papers. The floor is the same metric for real pictures outside the reference: {result['real_sides']}. "
            f"Not measured: {result['not_available']}"
        )
    return (
        f"Measured on {result['num']:,} samples (seed {result['seed']}) against {result['num']:,} real "
        f"{result['dataset']} training images, with the evaluation classifier `{result['classifier']}` "
        f"(test accuracy {result['classifier_test_accuracy']}) as feature extractor. The floor is the same "
        "metric for real test images: the best a generator can be expected to reach."
    )


def reading(result: dict, train_pictures: int | None = None, augmented: bool = False) -> str:
    """One plain-language sentence that reads an evaluation against its floor: how far from the real pictures, how
    realistic, how varied, whether it copies, and what usually helps. ``train_pictures``: how many it trained on, if
    known; ``augmented``: whether it trained with DiffAugment already (then that is not advised again)."""
    made, floor = result["generated"], result["floor"]
    times = made["fid"] / max(floor["fid"], 0.05)  # a floor near 0 (or slightly negative) would blow up the ratio
    distance = (
        "as close to the real pictures as real pictures are to each other" if times <= 2
        else f"close to the real pictures (FID {times:.0f} times the floor)" if times <= 20
        else f"recognisably like the real pictures but clearly apart from them (FID {times:.0f} times the floor)" if times <= 100
        else f"far from the real pictures (FID {times:.0f} times the floor)"
    )  # fmt: skip
    realistic = made["precision"] / max(floor["precision"], 1e-6)
    varied = made["recall"] / max(floor["recall"], 1e-6)
    quality = (
        f"{made['precision']:.0%} of the samples lie among real pictures (of real pictures, {floor['precision']:.0%})"
    ) + (
        " and they are as varied as the data" if varied >= 0.85
        else " and they cover part of the data's variety" if varied >= 0.5
        else " and they cover little of the data's variety (a sign of mode collapse)"
    )  # fmt: skip
    classes = made.get("classes_hit")
    if classes is not None and floor.get("classes_hit") and classes < floor["classes_hit"]:
        quality += f", with {floor['classes_hit'] - classes} of the {floor['classes_hit']} classes missing or rare"
    copies = bool(made.get("memorisation_flag"))
    copying = (
        f"it copies training pictures ({made['copy_fraction']:.0%} of samples are near-copies)" if copies
        else "it does not copy its training pictures"
    )  # fmt: skip
    advice = []
    if times > 20 or realistic < 0.85:
        advice.append("training longer")
    if (varied < 0.85 or copies) and not augmented:
        small = train_pictures is not None and train_pictures < 10_000
        advice.append("augmentation (--augment on), as small sets need" if small else "augmentation (--augment on)")
    if copies:
        advice.append("more pictures or stopping earlier")
    helps = f"; what usually helps: {' and '.join(advice)}" if advice else ""
    return f"In plain words: the samples are {distance}; {quality}; {copying}{helps}."


def manifest_record(result: dict) -> dict:
    """What a run manifest keeps of an evaluation (its ``evaluation`` field), to render the card from."""
    return {
        "summary": summary(result),
        "rows": [list(r) for r in table_rows(result)],
        "command": result["command"],
        "date": result["date"],
        "result": result,
    }


def card_section(result: dict) -> str:
    """The ``## Metrics`` section of a model card without a manifest: the table plus how it was measured."""
    return f"## Metrics\n{summary(result)}\n\n{format_table(result, markdown=True)}\n\n```\n{result['command']}\n```\n({result['date']})\n"


def update_card(card: str, section: str) -> str:
    """Replace the card's ``## Metrics`` section (up to the next ``## `` heading) or append one."""
    pattern = re.compile(r"^## Metrics\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(card):
        return pattern.sub(lambda _: section + "\n", card, count=1)
    return card.rstrip("\n") + "\n\n" + section


def classifier_accuracy(classifier_dir: Path) -> str:
    """The test accuracy stated in a classifier's card, or 'unknown'."""
    card = classifier_dir / hub.CARD_NAME
    found = re.search(r"\*\*([0-9.]+%)\*\* on the", card.read_text()) if card.is_file() else None
    return found.group(1) if found else "unknown"
