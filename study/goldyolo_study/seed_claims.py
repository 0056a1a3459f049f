"""The earlier student report's claims, quoted: each distinct claim once, in its own words (Chinese, verbatim), an
English translation, the section of the report that makes it, and the rule of :mod:`goldyolo_study.claims` that
sets it beside this study's measurements. Data only: the verdicts are the rules'."""
from __future__ import annotations

from typing import NamedTuple, Tuple


class SeedClaim(NamedTuple):
    """One claim of the earlier report."""
    key: str       # the rule that judges it (goldyolo_study.claims.RULES)
    where: str     # the section of the earlier report, translated
    original: str  # its words, verbatim (fragments of one passage joined by " … ")
    english: str   # a translation


SEED_CLAIMS: Tuple[SeedClaim, ...] = (
    SeedClaim("environment", "Experimental configuration",
              "**GPU**: NVIDIA RTX 4060 8GB … **CUDA**: 12.2 … **Jittor**: 1.3.9.14 … **Python**: 3.7",
              "GPU: NVIDIA RTX 4060 8GB; CUDA: 12.2; Jittor: 1.3.9.14; Python: 3.7"),
    SeedClaim("dataset", "Experimental configuration: dataset",
              "**数据源**: COCO2017 验证集 … **训练集**: 800张图片 (6270个标注) … **测试集**: 200张图片 (1524个标注)",
              "source: the COCO 2017 validation set; training set: 800 images (6,270 annotations); test set: 200 "
              "images (1,524 annotations)"),
    SeedClaim("model_config", "Experimental configuration: model",
              "**模型**: Gold-YOLO Small … **depth_multiple**: 0.33 … **width_multiple**: 0.50",
              "model: Gold-YOLO Small; depth multiplier 0.33; width multiplier 0.50"),
    SeedClaim("param_count", "Experimental configuration: model",
              "**参数量**: 9,344,468 (可训练: 9,325,780)",
              "9,344,468 parameters (9,325,780 trainable)"),
    SeedClaim("implemented", "Overview; again, in other words, under goals reached and in the conclusion",
              "本项目成功使用Jittor框架实现了Gold-YOLO模型",
              "the project implemented the Gold-YOLO model in Jittor"),
    SeedClaim("first_loss", "Problem 1: the loss anomaly",
              "损失值从0.85快速降到0.01，明显异常",
              "in the first training the loss fell quickly from 0.85 to 0.01, which is obviously abnormal"),
    SeedClaim("cause_targets", "Problem 1: cause 1",
              "人工目标过于简单 (固定小数值)",
              "cause: the artificial targets are too simple (fixed small values)"),
    SeedClaim("cause_bce", "Problem 1: cause 2",
              "BCE损失对稀疏目标计算不当",
              "cause: the BCE loss is computed improperly on sparse targets"),
    SeedClaim("cause_gradient", "Problem 1: cause 3",
              "梯度强制项权重过小",
              "cause: the weight of a gradient-forcing term is too small"),
    SeedClaim("cause_structure", "Problem 1: cause 4",
              "缺乏真实的目标检测损失结构",
              "cause: the loss lacks the structure of a real detection loss"),
    SeedClaim("fixed_loss", "Problem 1: effect of the fix",
              "**修复后**: 损失 2.48 → 0.78 (正常)",
              "after the fix the loss goes from 2.48 to 0.78, which is normal"),
    SeedClaim("gradient_flow", "Analysis: effect of the loss fix",
              "**梯度流动正常**: 各分支都有合理的梯度",
              "gradient flow is normal: every branch has a reasonable gradient"),
    SeedClaim("standard_loss", "Conclusion: technical contributions",
              "**损失函数修复**: 为Jittor目标检测提供了标准损失函数实现",
              "the loss fix provides a standard loss implementation for object detection in Jittor"),
    SeedClaim("balanced", "Training results; analysis",
              "**收敛趋势**: 健康下降，各项损失平衡 … **损失分解**: reg≈0.000, cls≈0.684, obj≈0.070, noobj≈0.025",
              "convergence: a healthy decrease, every loss term balanced; loss terms: reg 0.000, cls 0.684, obj 0.070, "
              "noobj 0.025"),
    SeedClaim("training_time", "Training results",
              "**训练时间**: 8.8分钟 (30轮) … **平均速度**: 17.6秒/epoch",
              "training time: 8.8 minutes (30 epochs); mean speed: 17.6 s per epoch"),
    SeedClaim("speed", "Evaluation results",
              "**推理速度**: 6,352.7 FPS … **推理时间**: 0.16 ms",
              "inference speed: 6,352.7 FPS; inference time: 0.16 ms"),
    SeedClaim("memory", "Evaluation results",
              "**内存使用**: 4.7 MB",
              "4.7 MB of memory"),
    SeedClaim("confidence", "Evaluation results",
              "**平均置信度**: 0.521",
              "mean confidence 0.521"),
    SeedClaim("pytorch_comparison", "Overview; again, in other words, under goals reached and in the conclusion",
              "并与PyTorch版本进行了深入的性能对比分析",
              "an in-depth performance comparison with the PyTorch version"),
    SeedClaim("test_set", "Conclusion; again, in other words, under goals reached",
              "在标准测试集上验证了模型性能",
              "the model's performance was verified on the standard test set"),
    SeedClaim("gpu_memory", "Jittor's features",
              "**内存管理**: 高效的GPU内存使用",
              "memory management: efficient use of GPU memory"),
    SeedClaim("jit_speedup", "Advantages of Jittor",
              "**编译优化**: 即时编译带来性能提升",
              "just-in-time compilation brings a performance gain"),
    SeedClaim("edge", "Practical value",
              "4.7 MB内存占用适合边缘设备",
              "4.7 MB of memory makes it suitable for edge devices"),
    SeedClaim("stable", "Applicability",
              "**稳定可靠**: 训练过程稳定",
              "stable and reliable: the training process is stable"),
    SeedClaim("api", "Advantages of Jittor",
              "**API兼容性**: 与PyTorch高度相似",
              "Jittor's API is highly similar to PyTorch's"),
)
