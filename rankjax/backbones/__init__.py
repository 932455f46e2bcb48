"""The backbones, one module each: vgg16 (the paper's), efficientnet_lite (with its
depthwise convolutions in depthwise and its ImageNet weights in lite_weights). The table
that networks and configs read is rankjax.models.BACKBONES."""
