"""Unpaired image data: the CycleGAN folder layout, the paper's datasets and the embedded demo dataset."""

from nasplatform.engine.data.config import DataConfig
from nasplatform.engine.data.dataset import DataError, ImageFolder, UnpairedDataset, describe_root
from nasplatform.engine.data.demo import DEMO_NAME, build_demo, paired_error, winter_transform
from nasplatform.engine.data.download import (
    PAPER_DATASETS,
    DatasetSpec,
    DownloadError,
    download_dataset,
    safe_extract,
    verify_dataset,
)
from nasplatform.engine.data.images import BadImageError, list_images, load_rgb

__all__ = [
    "DataConfig",
    "DataError",
    "ImageFolder",
    "UnpairedDataset",
    "describe_root",
    "DEMO_NAME",
    "build_demo",
    "paired_error",
    "winter_transform",
    "PAPER_DATASETS",
    "DatasetSpec",
    "DownloadError",
    "download_dataset",
    "safe_extract",
    "verify_dataset",
    "BadImageError",
    "list_images",
    "load_rgb",
]
