"""nasplatform: differentiable architecture search of CycleGAN (CycleGANAS) as an experiment platform."""

__version__ = "0.1.0"
