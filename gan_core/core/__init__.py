"""What everything else builds on: networks, latent math, pixels, datasets, loading and saving, the run manifest, checks."""
