"""Setting Jittor up for CUDA 13 and cuDNN 9: source fixes of the installed package, the toolkit it finds."""
