"""Prediction of an image: the tiles' geometry (tiling.py), the sliding window (window.py), how
large its tiles are (sizing.py), the network as the window calls it (network.py), the predictor
that runs the stages for one image (predictor.py), images larger than memory (bands.py) and
results larger than memory, written into arrays the caller gives (into.py)."""
