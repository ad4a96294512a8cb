"""The atlas: render plans, resumable rendering, and the image catalog."""
