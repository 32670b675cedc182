"""PyTorch reference of the paper's networks (docs/SPEC.md §2) and of LfF's MLP (docs/LFF.md),
shared by the hand-run scripts `tools/make_golden_fixtures.py`, `tools/make_mlp_fixture.py`,
`tools/make_lff_steps_fixture.py` and `bench/pytorch_step.py`."""
import torch
from torch import nn

GRL_SCALE = 0.1


class ConvNet(nn.Module):
    """f and g as docs/SPEC.md §2 describes them."""

    def __init__(self):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(3)
        self.conv1 = nn.Conv2d(3, 32, 5, 1, 2)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.conv2 = nn.Conv2d(32, 32, 3, 1, 1)
        self.conv3 = nn.Conv2d(32, 64, 3, 2, 1)
        self.conv4 = nn.Conv2d(64, 64, 3, 1, 1)
        self.fc = nn.Linear(64, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, (2.0 / n) ** 0.5)

    def forward(self, x):
        x = torch.relu(self.conv1(self.bn0(x)))
        phi = torch.relu(self.conv2(self.pool(x)))
        x = torch.relu(self.conv4(torch.relu(self.conv3(phi))))
        return phi, self.fc(x.mean(dim=(2, 3)))


class Head(nn.Module):
    """One bias head: conv 32→32, BN, ReLU, conv 32→8."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(32, 32, 3, 1, 1)
        self.bn = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 8, 3, 1, 1)

    def forward(self, x):
        return self.conv2(torch.relu(self.bn(self.conv1(x))))


class GradReverse(torch.autograd.Function):
    """Identity forward, `−scale ×` the gradient backward: `GradReverse.apply(x, scale)`."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.scale * g, None


class MLP(nn.Module):
    """LfF's MLP: 2352 → 100 → 100 → 100 → 10 with ReLUs, the input divided by 255 once more."""

    def __init__(self):
        super().__init__()
        self.feature = nn.Sequential(
            nn.Linear(3 * 28 * 28, 100), nn.ReLU(),
            nn.Linear(100, 100), nn.ReLU(),
            nn.Linear(100, 100), nn.ReLU(),
        )
        self.classifier = nn.Linear(100, 10)

    def forward(self, x):
        return self.classifier(self.feature(x.view(x.size(0), -1) / 255))


def neg_entropy(logits):
    """Mean over pixels of Σ_k p_k log p_k over the bin dimension (1)."""
    p = torch.softmax(logits, dim=1)
    return torch.mean(torch.sum(p * torch.log_softmax(logits, dim=1), dim=1))


def confusion(logits):
    """Mean over pixels of the cross-entropy to the uniform distribution over the bins."""
    return -torch.log_softmax(logits, dim=1).mean(dim=1).mean()
