"""``python -m sample_data --patients 5000 --seed 1 [--out DIR]``: generate, count rows, time it."""

from sample_data.generator import main

main()
