"""What a training run does, as data (stored in checkpoints and model cards)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..base.labels import IGNORE_LABEL
from ..base.precision import check_precision
from ..data.augment import Augmentation

SCHEDULES = ("cosine", "constant", "step", "plateau")


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run.

    steps : optimisation steps in all; ``val_every`` steps make one logged "epoch".
    budget_validations : with a time budget (``Trainer.fit(seconds=...)``), about this many
        validations over it instead, spaced once the run's first steps are timed (0: every
        ``val_every`` steps).
    patch : input patch edge in pixels (rounded to a size the network accepts).
    input_scale : the training images are resampled by this factor first (2: the network sees
        each structure twice as wide); the model card records the scale it was trained at.
    optimizer : ``"adam"`` or ``"sgd"`` (paper: SGD, momentum 0.99).
    schedule : ``"cosine"`` (to ``lr * 0.01``), ``"constant"``, ``"step"`` (x0.1 at 2/3) or
        ``"plateau"`` (as ``torch.optim.lr_scheduler.ReduceLROnPlateau`` on the held-out
        ``monitor``: the rate times ``plateau_factor`` after each ``plateau_patience``
        validations without improvement, down to ``lr * 0.001``).
    loss : ``"weighted_ce"`` (paper, with ``w0``, ``sigma``, ``object_class``), ``"ce"`` (plain
        cross-entropy), ``"bce_dice"`` or ``"focal"``; ``border_weights`` adds the paper's border
        term to any of them.
    foreground_p : share of patches centred on a non-background pixel.
    corrected_p : share of patches centred on a pixel the user corrected (one whose loss
        weight is above 1, :attr:`Sample.loss_weights`).
    patience : stop after this many validations without improvement of ``monitor`` (None: never).
    ema : decay of an exponential moving average of the weights (0: off); validation and the
        saved model then use the averaged weights (Polyak averaging). Step t uses
        ``min(ema, (1 + t) / (10 + t))``, so a short run is not pulled towards its start.
    freeze_bn, freeze_encoder : for fine-tuning on few images: keep batch-norm statistics, and
        leave the contracting path's weights as they are.
    precision : ``"auto"`` (bf16 mixed precision where the hardware has it, see
        :func:`~unet_core.base.precision.resolve_precision`), ``"fp32"`` or ``"bf16"``; the weights
        and the optimizer stay fp32 either way. The card records what ran.
    """

    steps: int = 2000
    batch_size: int = 8
    patch: int = 128
    input_scale: float = 1.0
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.99
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup: int = 50
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    loss: str = "bce_dice"
    border_weights: bool = False
    balance_classes: bool = False
    w0: float = 10.0
    sigma: float = 5.0
    object_class: int = 1
    ignore_label: int | None = IGNORE_LABEL
    foreground_p: float = 0.5
    corrected_p: float = 0.0
    augmentation: Augmentation = field(default_factory=Augmentation)
    val_every: int = 200
    budget_validations: int = 0
    monitor: str = "f1"
    monitor_mode: str = "max"
    patience: int | None = None
    ema: float = 0.0
    freeze_bn: bool = False
    freeze_encoder: bool = False
    seed: int = 0
    precision: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.augmentation, dict):
            self.augmentation = Augmentation(**self.augmentation)
        for name in ("steps", "batch_size", "patch", "val_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.budget_validations < 0:
            raise ValueError(f"budget_validations must be >= 0, got {self.budget_validations}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got "
                             f"{self.schedule!r}")  # fmt: skip
        if not 0.0 < self.plateau_factor < 1.0 or self.plateau_patience < 1:
            raise ValueError("plateau_factor must be in (0, 1) and plateau_patience >= 1, got "
                             f"{self.plateau_factor} and {self.plateau_patience}")  # fmt: skip
        if self.patience is not None and self.patience < 0:
            raise ValueError(f"patience must be >= 0 or None, got {self.patience}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        self.precision = check_precision(self.precision)
        if self.monitor_mode not in ("max", "min"):
            raise ValueError(f"monitor_mode must be 'max' or 'min', got {self.monitor_mode!r}")

    def to_dict(self) -> dict:
        return asdict(self)
