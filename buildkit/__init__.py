"""buildkit: hermetic, content-addressed builds of multi-arch images from APK packages."""

__version__ = "0.1.0"
