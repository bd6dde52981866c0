"""The image pool of generated images that feeds the discriminators (official CycleGAN ImagePool, resumable)."""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    """A buffer of up to `size` past fakes (Shrivastava et al. 2017), as in the official CycleGAN code.

    Until full, every queried image is stored and returned. Then, for each image, with probability 0.5 a
    random stored image is returned and the new one takes its place; otherwise the new image is returned.
    size 0 returns the queries unchanged. Unlike the official pool, the randomness comes from a seeded
    `torch.Generator` owned by the pool, and `state_dict()` holds the images and that generator, so a
    resumed run draws exactly what the uninterrupted one would have.
    """

    def __init__(self, size: int = 50, seed: int = 0):
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self.images: list[Tensor] = []
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: Tensor) -> Tensor:
        """Images (N, C, H, W) to show the discriminator in place of `images`; detached from the graph."""
        images = images.detach()
        if self.size == 0:
            return images
        returned = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.clone())
                returned.append(image)
            elif torch.rand((), generator=self.generator, device="cpu").item() > 0.5:
                slot = int(torch.randint(0, self.size, (), generator=self.generator, device="cpu").item())
                returned.append(self.images[slot].to(image.device))
                self.images[slot] = image.clone()
            else:
                returned.append(image)
        return torch.stack(returned)

    def state_dict(self) -> dict:
        """{"size", "images": stacked (n, C, H, W) CPU tensor (empty when n = 0), "generator": RNG state}."""
        # on the CPU: after a resume the pool mixes loaded (CPU) and new (device) images
        stacked = torch.stack([image.cpu() for image in self.images]) if self.images else torch.empty(0)
        return {"size": self.size, "images": stacked, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        missing = {"size", "images", "generator"} - state.keys()
        if missing:
            raise ValueError(f"image pool state lacks {sorted(missing)}")
        if int(state["size"]) != self.size:
            raise ValueError(f"image pool state is for size {state['size']}, this pool has size {self.size}")
        images = state["images"]
        if len(images) > self.size:
            raise ValueError(f"image pool state holds {len(images)} images, more than its size {self.size}")
        self.images = [image.clone() for image in images]
        self.generator.set_state(state["generator"])
