"""What Fine-tune checks before a round starts: that labels are painted on the image chosen for
them, and that the model can take the images and labels (one line, before any training)."""

from __future__ import annotations

from collections.abc import Callable

from .._session import image_id, image_pixels


def same_image(pair, image_layer, viewer, ask: Callable, use: Callable,
               retry: Callable) -> bool:  # fmt: skip
    """True when ``image_layer`` holds the pixels ``pair`` was made on; otherwise ``ask`` the
    user (the mismatch in one line and its answers: ``use`` the labels' own image layer, or go
    on with this one, relinking the pair) and False; an answer then calls ``retry``."""
    here = image_id(image_layer)
    mismatch = pair.image.mismatch(here, pair.labels_name)
    if mismatch is None:
        return True
    own = next((layer for layer in viewer.layers if layer.name == pair.image.name
                and layer is not image_layer), None)  # fmt: skip
    answers = []
    if own is not None:
        def use_own() -> None:
            use(own)
            retry()

        answers.append((f"Use '{own.name}'", use_own))

    def relink() -> None:
        pair.image, pair.pixels = here, image_pixels(image_layer)
        retry()

    ask(mismatch, [*answers, (f"Go on with '{image_layer.name}'", relink)])
    return False


def check_fit(model, data: list, pairs: list) -> None:
    """One line, before any training, if the model cannot take the images or labels; pairs
    whose class names do not fit the model take the model's."""
    from unet_core.base.labels import IGNORE_LABEL
    from unet_core.data.preprocess import check_channels
    from unet_core.training.finetune_inputs import check_labels

    for d, pair in zip(data, pairs):
        nd = d.labels.ndim  # a stack's labels: its slices (a 2-D model) or the volume (3-D)
        if nd == 3 and model.spatial_dims == 3:
            check_channels(d.image, model.card.preprocessing.channels, model.in_channels, 3)
        elif nd == 2 and model.spatial_dims == 3:
            raise ValueError(f"'{pair.labels_name}' is 2-D: a 3-D model fine-tunes on stacks")
        else:
            plane = d.image if nd == 2 else d.image[0]
            check_channels(plane, model.card.preprocessing.channels, model.in_channels)
        if len(pair.classes) < model.num_classes:
            pair.classes = list(model.card.classes)
        try:  # names beyond the model's are new classes: their values may be painted
            check_labels(d.labels, d.image.shape[:nd], len(pair.classes), IGNORE_LABEL,
                         f"'{pair.labels_name}'")  # fmt: skip
        except ValueError as exc:
            raise ValueError(f"{exc}; to teach a new class, add its name to 'class names'") \
                from None
