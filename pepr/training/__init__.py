"""The training side (torch, timm): one run's training loop, its meters, the kernel crop, the models and the tensors they train on."""
