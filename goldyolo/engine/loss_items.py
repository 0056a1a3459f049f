"""Names of the training loss items, in the order the criteria return them (no Jittor import: the
official-trainer harness writes the same keys)."""
LOSS_ITEMS = ("iou_loss", "dfl_loss", "cls_loss")
DISTILL_ITEMS = LOSS_ITEMS + ("cwd_loss",)  # with the channel-wise feature term of distillation
