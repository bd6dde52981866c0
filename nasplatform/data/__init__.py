"""Unpaired image data: the CycleGAN folder layout, the paper's datasets and the embedded demo dataset."""

from nasplatform.data.dataset import DataError, ImageFolder, UnpairedDataset, describe_root
from nasplatform.data.demo import DEMO_NAME, build_demo, winter_transform
from nasplatform.data.download import (
    PAPER_DATASETS,
    DatasetSpec,
    DownloadError,
    download_dataset,
    safe_extract,
    verify_dataset,
)
from nasplatform.data.images import BadImageError, list_images, load_rgb

__all__ = [
    "DataError",
    "ImageFolder",
    "UnpairedDataset",
    "describe_root",
    "DEMO_NAME",
    "build_demo",
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
