"""wisp.optim: optimizers and learning-rate schedulers shaped like `torch.optim`.

Every optimizer keeps its state in flat buffers and updates all parameters of a group with
one fused backend kernel per step (see `optimizer.py`).

>>> import wisp
>>> w = wisp.zeros(2, requires_grad=True)
>>> opt = wisp.optim.Adam([w], lr=0.1)
>>> sched = wisp.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
>>> for _ in range(3):
...     opt.zero_grad()
...     ((w - 1.0) ** 2).sum().backward()
...     opt.step()
...     sched.step()
>>> sched.get_last_lr()
[0.0125]
"""

from __future__ import annotations

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .lamb import LAMB
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["LAMB", "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
