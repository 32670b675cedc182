"""The paper's networks in PyTorch, with the module names of the authors' code, for the files
`lntl export --format pytorch` writes (docs/SPEC.md §2; docs/PYTORCH.md shows its use):

    from safetensors.torch import load_file
    from lntl_networks import LntlNetworks
    model = LntlNetworks()
    model.load_state_dict(load_file("export.safetensors"), strict=True)

`model.net` is f and g (the authors' `convnet`: it returns φ and the digit logits), and
`model.pred_net_r`, `pred_net_g`, `pred_net_b` are the color heads (their `Predictor`: per-pixel
logits and softmax over 8 bins). Inputs are normalized as docs/SPEC.md §1 says; see
`normalize` below.
"""
import torch
from torch import nn

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


def normalize(images_nhwc_uint8):
    """uint8 images (N, 28, 28, 3) → the network's input (N, 3, 28, 28)."""
    x = torch.as_tensor(images_nhwc_uint8).float().div(255.0).permute(0, 3, 1, 2)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


class ConvNet(nn.Module):
    """f (input batch norm to φ) and g (φ to the digit logits)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(3)
        self.conv1 = nn.Conv2d(3, 32, kernel_size=5, stride=1, padding=2)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(32, 32, kernel_size=3, stride=1, padding=1)
        self.conv3 = nn.Conv2d(32, 64, kernel_size=3, stride=2, padding=1)
        self.conv4 = nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.maxpool(torch.relu(self.conv1(self.bn0(x))))
        phi = torch.relu(self.conv2(x))
        x = torch.relu(self.conv4(torch.relu(self.conv3(phi))))
        return phi, self.fc(x.mean(dim=(2, 3)))


class Predictor(nn.Module):
    """One color head: per position of φ, logits over the 8 bins of one channel."""

    def __init__(self, input_ch=32, num_classes=8):
        super().__init__()
        self.pred_conv1 = nn.Conv2d(input_ch, input_ch, kernel_size=3, stride=1, padding=1)
        self.pred_bn1 = nn.BatchNorm2d(input_ch)
        self.pred_conv2 = nn.Conv2d(input_ch, num_classes, kernel_size=3, stride=1, padding=1)

    def forward(self, phi):
        logits = self.pred_conv2(torch.relu(self.pred_bn1(self.pred_conv1(phi))))
        return logits, torch.softmax(logits, dim=1)


class LntlNetworks(nn.Module):
    """Everything a run trains, under the attribute names of the authors' trainer."""

    def __init__(self):
        super().__init__()
        self.net = ConvNet()
        self.pred_net_r = Predictor()
        self.pred_net_g = Predictor()
        self.pred_net_b = Predictor()
