"""Label conventions shared by training, fine-tuning, the plugin and the batch report."""

#: Label value of pixels nobody annotated: they count for nothing in training and scoring.
IGNORE_LABEL = 255
