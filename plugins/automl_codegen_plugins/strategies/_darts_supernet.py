"""The DARTS supernet and its bilevel training, in PyTorch (imported only when a search trains).

The supernet is the space's own network (:class:`SupernetDescription` ``skeleton``) with
every cell call replaced by a :class:`MixedCell`. Each candidate op of a mixed edge is
built with :class:`~automl_codegen_plugins.torch_model.GraphModule` from the space's own
lowering of that op, so the ops searched are the ops the derived network retrains.
Differences from the final network, all as in the authors' search networks: BatchNorms
inside cells have no affine parameters (option ``affine``); in ``darts-cell`` a pooling op
is followed by a non-affine BatchNorm; ``none`` is skipped (its output is zero, so its
term of the mixture is zero, and so is the gradient of its weight through that term).

Ops that start with a ReLU of their input (ReLUConvBN, SepConv, DilConv,
FactorizedReduce) share one ReLU per edge: the same values and gradients as one ReLU per
op, computed and stored once.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the name every PyTorch reader expects
from torch import nn
from torch.utils.checkpoint import checkpoint

from automl_codegen import Architecture
from automl_codegen.evaluation import Dataset
from automl_codegen.supernet import SupernetCell, SupernetDescription

from ..torch_model import GraphModule

__all__ = [
    "ChildPath",
    "MixedCell",
    "MixedEdge",
    "Supernet",
    "SupernetTrainer",
    "batch_statistics_only",
    "child_path",
    "decode_state",
    "encode_state",
    "second_order_alpha_grads",
    "step_peak_bytes",
]

Tensor = torch.Tensor

#: One child network of a supernet (ENAS): per edge of a cell, the ``(op column, count)``
#: pairs it computes; an empty tuple leaves the edge out.
ChildPath = tuple[tuple[tuple[int, float], ...], ...]


# -- building ------------------------------------------------------------------------------


def _op_module(network: Architecture) -> tuple[nn.Module | None, bool]:
    """The op of an ``edge_op_network``: (module or None for identity, whether it takes ReLU(x))."""
    edge = network.nodes[0]
    wrapper = network.block_map[edge.block]
    params = dict(edge.attrs)
    (node,) = wrapper.nodes
    if node.op == "identity":
        return None, False
    if node.op != "block":
        return GraphModule(network, wrapper.nodes, wrapper.inputs, wrapper.output, params), False
    block = network.block_map[node.block]
    bound = {key: params[value] if isinstance(value, str) else value for key, value in node.attrs}
    first, rest = block.nodes[0], block.nodes[1:]
    if first.op == "relu" and first.inputs == block.inputs and not any(set(n.inputs) & set(block.inputs) for n in rest):
        # The edge computes ReLU(x) once for all such ops; the op starts after it.
        return GraphModule(network, rest, (first.name,), block.output, bound), True
    return GraphModule(network, block.nodes, block.inputs, block.output, bound), False


def _drop_affine(module: nn.Module) -> None:
    """Turn every BatchNorm inside ``module`` into a non-affine one (no weight, no bias)."""
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d) and bn.affine:
            bn.affine = False
            bn.register_parameter("weight", None)
            bn.register_parameter("bias", None)


def _channel_shuffle(x: Tensor, groups: int) -> Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class MixedEdge(nn.Module):
    """``sum_o w_o * o(x)`` over the candidate ops of one edge (``none`` left out).

    With partial channels ``K > 1`` (PC-DARTS) the ops see the first ``C / K`` channels;
    the others bypass the ops (max-pooled when the edge has stride 2), and the result is
    channel-shuffled. With an auxiliary skip weight ``beta > 0`` (DARTS-), stride-1 edges
    add ``beta * x``.
    """

    def __init__(self, description: SupernetDescription, channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.k = description.partial_channels
        self.ops = nn.ModuleList()
        plan = []
        for column, op in enumerate(description.ops):
            if op == "none":
                continue
            module, takes_relu = _op_module(description.op_networks[(op, channels, stride)])
            if module is None:
                plan.append((column, -1, False))
                continue
            if description.pool_bn and "pool" in op:
                module = nn.Sequential(module, nn.BatchNorm2d(channels // self.k, affine=False))
            plan.append((column, len(self.ops), takes_relu))
            self.ops.append(module)
        self._plan = tuple(plan)
        self._by_column = {column: (index, takes_relu) for column, index, takes_relu in plan}
        self._shares_relu = any(takes_relu for _, _, takes_relu in plan)

    def forward(self, x: Tensor, weights: Sequence[Tensor], aux_skip: float = 0.0) -> Tensor:
        part = x if self.k == 1 else x[:, : x.shape[1] // self.k]
        relu = F.relu(part) if self._shares_relu else part
        total = None
        for column, index, takes_relu in self._plan:
            out = part if index < 0 else self.ops[index](relu if takes_relu else part)
            term = weights[column] * out
            total = term if total is None else total + term
        if self.k > 1:
            rest = x[:, x.shape[1] // self.k :]
            if self.stride == 2:
                rest = F.max_pool2d(rest, 2, 2)
            total = _channel_shuffle(torch.cat([total, rest], dim=1), self.k)
        if aux_skip and self.stride == 1:
            total = total + aux_skip * x
        return total

    def forward_path(self, x: Tensor, columns: Sequence[tuple[int, float]]) -> Tensor | None:
        """A single path (ENAS): ``sum count * op(x)`` over the chosen ``(column, count)`` only.

        Only the chosen ops run, so a step costs what the child network costs. ``None``
        when nothing is chosen (the edge is absent or ``none``). Partial channels and
        the auxiliary skip are DARTS-only and not applied here.
        """
        relu = None
        total = None
        for column, count in columns:
            if column not in self._by_column:
                continue  # ``none``: contributes nothing
            index, takes_relu = self._by_column[column]
            if index < 0:
                out = x
            elif takes_relu:
                relu = F.relu(x) if relu is None else relu
                out = self.ops[index](relu)
            else:
                out = self.ops[index](x)
            term = out if count == 1 else count * out
            total = term if total is None else total + term
        return total

    def zeros(self, x: Tensor) -> Tensor:
        """What an edge whose ops are all ``none`` outputs for ``x``."""
        n, c, h, w = x.shape
        if self.stride == 2:
            h, w = (h + 1) // 2, (w + 1) // 2
        return x.new_zeros(n, c, h, w)


class MixedCell(nn.Module):
    """A cell whose edges are :class:`MixedEdge`; weights ``(edges, ops)`` come per call."""

    def __init__(
        self, description: SupernetDescription, cell: SupernetCell, skeleton: Architecture, call_node: Any
    ) -> None:
        super().__init__()
        self.preprocess = nn.ModuleList()
        if description.preprocess:
            block = skeleton.block_map[call_node.block]
            params = dict(call_node.attrs)
            nodes = {node.name: node for node in block.nodes}
            for name in description.preprocess:
                node = nodes[name]
                self.preprocess.append(GraphModule(skeleton, [node], node.inputs, node.name, params))
        inputs = description.cell_inputs
        self.edges = nn.ModuleList(
            MixedEdge(description, cell.channels, 2 if cell.reduction and i < inputs else 1)
            for i, _ in description.edges
        )
        groups: dict[int, list[tuple[int, int]]] = {}
        for index, (i, j) in enumerate(description.edges):
            groups.setdefault(j, []).append((index, i))
        self._nodes = tuple(tuple(groups[j]) for j in sorted(groups))
        self._concat = description.output == "concat"
        self._inputs = inputs
        self._ops = len(description.ops)
        self._batchnorms = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def forward(self, inputs: Sequence[Tensor], weights: Tensor | ChildPath, aux_skip: float = 0.0) -> Tensor:
        states = [pre(x) for pre, x in zip(self.preprocess, inputs, strict=True)] if self.preprocess else list(inputs)
        if isinstance(weights, tuple):
            return self._forward_path(states, weights)
        scalars = weights.reshape(-1).unbind(0)
        n = self._ops
        for edges in self._nodes:
            total = None
            for index, i in edges:
                out = self.edges[index](states[i], scalars[index * n : (index + 1) * n], aux_skip)
                total = out if total is None else total + out
            states.append(total)
        return torch.cat(states[self._inputs :], dim=1) if self._concat else states[-1]

    def _forward_path(self, states: list[Tensor], path: ChildPath) -> Tensor:
        for edges in self._nodes:
            total = None
            for index, i in edges:
                out = self.edges[index].forward_path(states[i], path[index])
                if out is not None:
                    total = out if total is None else total + out
            if total is None:  # every incoming edge is ``none``
                index, i = edges[0]
                total = self.edges[index].zeros(states[i])
            states.append(total)
        return torch.cat(states[self._inputs :], dim=1) if self._concat else states[-1]

    @contextlib.contextmanager
    def frozen_statistics(self) -> Iterator[None]:
        """BatchNorm running statistics left as they are while the cell is recomputed.

        Momentum 0 keeps the running averages (``(1 - 0) * old + 0 * new``) while the
        forward saves the same tensors for backward as the first time, which
        checkpointing checks; the batch counter is put back afterwards.
        """
        saved = [(bn.momentum, bn.num_batches_tracked.clone()) for bn in self._batchnorms]
        for bn in self._batchnorms:
            bn.momentum = 0.0
        try:
            yield
        finally:
            with torch.no_grad():
                for bn, (momentum, count) in zip(self._batchnorms, saved, strict=True):
                    bn.momentum = momentum
                    bn.num_batches_tracked.copy_(count)


class Supernet(nn.Module):
    """The space's network with mixed cells; ``forward(x, weights)`` takes softmaxed weights per cell kind.

    ``weights[kind]`` may also be a :data:`ChildPath`: then only that child's ops run
    (weight sharing, ENAS); :func:`child_path` makes one from a space's 0/1 matrix.

    Args:
        description: the space's :class:`SupernetDescription`.
        affine: keep the affine parameters of BatchNorms inside cells (the authors drop them).
        checkpointing: recompute each cell's activations in the backward pass instead of
            storing them (gradient checkpointing); BatchNorm statistics are not updated twice.
    """

    def __init__(self, description: SupernetDescription, *, affine: bool = False, checkpointing: bool = False) -> None:
        super().__init__()
        skeleton = description.skeleton
        cells = {cell.node: cell for cell in description.cells}
        last_use = {ref: index for index, node in enumerate(skeleton.nodes) for ref in node.inputs}
        self.layers = nn.ModuleDict()
        steps = []
        for index, node in enumerate(skeleton.nodes):
            cell = cells.get(node.name)
            if cell is None:
                inputs = tuple(dict.fromkeys(node.inputs))
                self.layers[node.name] = GraphModule(skeleton, [node], inputs, node.name)
            else:
                inputs = node.inputs
                self.layers[node.name] = module = MixedCell(description, cell, skeleton, node)
                if not affine:
                    _drop_affine(module)
            dead = tuple(sorted({ref for ref in node.inputs if last_use[ref] == index} - {skeleton.output}))
            steps.append((node.name, inputs, None if cell is None else cell.kind, dead))
        self._steps = tuple(steps)
        self._output = skeleton.output
        self.checkpointing = checkpointing
        #: DARTS-'s auxiliary skip weight ``beta`` (0 = off), set by the trainer per epoch.
        self.aux_skip = 0.0

    def forward(self, x: Tensor, weights: Mapping[str, Tensor]) -> Tensor:
        values = {Architecture.INPUT: x}
        for name, inputs, kind, dead in self._steps:
            args = [values[ref] for ref in inputs]
            module = self.layers[name]
            if kind is None:
                values[name] = module(*args)
            elif self.checkpointing and torch.is_grad_enabled():
                values[name] = checkpoint(
                    module,
                    args,
                    weights[kind],
                    self.aux_skip,
                    use_reentrant=False,
                    context_fn=lambda module=module: (contextlib.nullcontext(), module.frozen_statistics()),
                )
            else:
                values[name] = module(args, weights[kind], self.aux_skip)
            for ref in dead:
                del values[ref]
        return values[self._output]


def child_path(rows: Sequence[Sequence[float]]) -> ChildPath:
    """The :data:`ChildPath` of one cell kind from its edge-by-op count matrix."""
    return tuple(tuple((column, float(count)) for column, count in enumerate(row) if count) for row in rows)


def batch_statistics_only(model: nn.Module) -> None:
    """Make every BatchNorm normalise with the statistics of the batch, in training and eval.

    A weight-sharing supernet trains a different child at every step, so running
    averages would mix the statistics of many networks and describe none of them.
    """
    for bn in model.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn.track_running_stats = False
            bn.register_buffer("running_mean", None)
            bn.register_buffer("running_var", None)
            bn.register_buffer("num_batches_tracked", None)


# -- the second-order architecture gradient ----------------------------------------------------


def _grads(loss: Tensor, tensors: Sequence[Tensor]) -> list[Tensor]:
    grads = torch.autograd.grad(loss, list(tensors), allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(tensors, grads, strict=True)]


def second_order_alpha_grads(
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    params: Sequence[Tensor],
    alphas: Sequence[Tensor],
    train: tuple[Tensor, Tensor],
    val: tuple[Tensor, Tensor],
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    momentum_buffers: Sequence[Tensor | None],
    r: float = 0.01,
) -> tuple[list[Tensor], Tensor]:
    """DARTS's unrolled architecture gradient with the finite-difference Hessian-vector product.

    With ``w' = w - lr * (momentum * buf + dL_train/dw + weight_decay * w)`` (one step of the
    weight optimiser, as the authors' ``Architect._compute_unrolled_model``), returns::

        dL_val(w', a)/da - lr * (dL_train(w+, a)/da - dL_train(w-, a)/da) / (2 eps)

    with ``w± = w ± eps * v``, ``v = dL_val(w', a)/dw'`` and ``eps = r / |v|``, and the
    unrolled validation loss. ``loss_fn(x, y)`` evaluates the model with its parameters
    ``params`` as they are; they are changed in place for each evaluation and restored
    bit for bit (so gradient checkpointing, which recomputes in backward, sees the right
    values).
    """
    params = list(params)
    saved = [p.detach().clone() for p in params]
    try:
        grads = _grads(loss_fn(*train), params)
        with torch.no_grad():
            for p, w, g, buf in zip(params, saved, grads, momentum_buffers, strict=True):
                step = g + weight_decay * w
                if buf is not None:
                    step = step + momentum * buf
                p.copy_(w - lr * step)
        val_loss = loss_fn(*val)
        both = _grads(val_loss, [*alphas, *params])
        alpha_grads, v = both[: len(alphas)], both[len(alphas) :]
        eps = r / torch.sqrt(sum((g * g).sum() for g in v))
        with torch.no_grad():
            for p, w, g in zip(params, saved, v, strict=True):
                p.copy_(w + eps * g)
        plus = _grads(loss_fn(*train), alphas)
        with torch.no_grad():
            for p, w, g in zip(params, saved, v, strict=True):
                p.copy_(w - eps * g)
        minus = _grads(loss_fn(*train), alphas)
    finally:
        with torch.no_grad():
            for p, w in zip(params, saved, strict=True):
                p.copy_(w)
    result = [g - lr * (gp - gm) / (2 * eps) for g, gp, gm in zip(alpha_grads, plus, minus, strict=True)]
    return result, val_loss.detach()


# -- memory --------------------------------------------------------------------------------


def step_peak_bytes(fn: Callable[[], Any], device: torch.device | str = "cpu") -> tuple[int, str]:
    """Peak bytes allocated by ``fn()`` above what was allocated before it, and how measured.

    CUDA: ``torch.cuda.max_memory_allocated``. CPU: the allocation and free events that
    the PyTorch profiler records (``profile_memory=True``), summed in time order.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before, "torch.cuda.max_memory_allocated"
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [
        e
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and str(e.device_type()).endswith("CPU")
    ]
    total = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        total += event.nbytes()
        peak = max(peak, total)
    return peak, "torch.profiler memory events (CPU allocator)"


def _tensor_bytes(tensors: Any) -> int:
    if isinstance(tensors, Tensor):
        return tensors.numel() * tensors.element_size()
    if isinstance(tensors, Mapping):
        return sum(_tensor_bytes(v) for v in tensors.values())
    if isinstance(tensors, list | tuple):
        return sum(_tensor_bytes(v) for v in tensors)
    return 0


# -- state ---------------------------------------------------------------------------------


def encode_state(obj: Any) -> str:
    """``torch.save`` of tensors, dicts, lists and numbers, as base64 text (strict JSON)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_state(text: str) -> Any:
    """The inverse of :func:`encode_state`, loaded with ``weights_only=True`` onto the CPU."""
    return torch.load(io.BytesIO(base64.b64decode(text)), map_location="cpu", weights_only=True)


# -- training ------------------------------------------------------------------------------


class SupernetTrainer:
    """Bilevel training of a supernet: weights on the training split, architecture on validation.

    Per step, as the authors' ``train_search.py``: an Adam step (betas 0.5, 0.999) on the
    architecture parameters from a validation batch (first order: the gradient of the
    validation loss; second order: :func:`second_order_alpha_grads`), then an SGD step
    (momentum, weight decay, gradient clipping) on the weights from a training batch,
    with the softmaxed architecture weights held fixed. The learning rate of the weights
    follows a cosine from ``w_lr`` to ``w_lr_min`` over the epochs.

    Args:
        description: the space's supernet description.
        config: the strategy's options (``order``, ``epochs``, ``batch_size``, ...).
        dataset: x/y train and validation arrays.
        device: ``"cpu"`` or ``"cuda"``.
        seed: seeds the weights (in a forked RNG, the global one is untouched), the
            architecture parameters, and the data order (a private generator).
    """

    def __init__(self, description: SupernetDescription, config: Any, dataset: Dataset, device: str, seed: int) -> None:
        self.description = description
        self.config = config
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Supernet(description, affine=config.affine, checkpointing=config.checkpointing)
        self.model = model.to(self.device)
        shape = (len(description.edges), len(description.ops))
        self.alphas = {
            kind: (1e-3 * torch.randn(shape, generator=self.generator)).to(self.device).requires_grad_()
            for kind in description.kinds
        }
        self.w_optimizer = torch.optim.SGD(
            self.model.parameters(), lr=config.w_lr, momentum=config.w_momentum, weight_decay=config.w_weight_decay
        )
        self.a_optimizer = torch.optim.Adam(
            list(self.alphas.values()),
            lr=config.alpha_lr,
            betas=(0.5, 0.999),
            weight_decay=config.alpha_weight_decay,
        )
        self.x_train = torch.from_numpy(dataset.x_train).to(self.device)
        self.y_train = torch.from_numpy(dataset.y_train).to(self.device)
        self.x_val = torch.from_numpy(dataset.x_val).to(self.device)
        self.y_val = torch.from_numpy(dataset.y_val).to(self.device)

    # -- schedules

    def lr(self, epoch: int) -> float:
        c = self.config
        return c.w_lr_min + (c.w_lr - c.w_lr_min) * (1 + math.cos(math.pi * epoch / c.epochs)) / 2

    def aux_skip(self, epoch: int) -> float:
        """DARTS-: the auxiliary skip weight decays linearly from 1 to 0 over the epochs."""
        return 1.0 - epoch / self.config.epochs if self.config.remedy == "darts-minus" else 0.0

    # -- one step

    def softmax(self) -> dict[str, Tensor]:
        return {kind: F.softmax(alpha, dim=-1) for kind, alpha in self.alphas.items()}

    def _loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.model(x, self.softmax())
        return F.cross_entropy(logits, y), logits

    def step(self, train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor], lr: float) -> dict[str, float]:
        """One architecture step (validation batch), then one weight step (training batch)."""
        c = self.config
        alphas = list(self.alphas.values())
        self.a_optimizer.zero_grad(set_to_none=True)
        if c.order == 1:
            val_loss, logits = self._loss(*val)
            grads = _grads(val_loss, alphas)
            val_correct = int((logits.argmax(1) == val[1]).sum())
        else:
            params = list(self.model.parameters())
            buffers = [self.w_optimizer.state.get(p, {}).get("momentum_buffer") for p in params]
            # The extra passes leave BatchNorm statistics as they were.
            statistics = [b.detach().clone() for b in self.model.buffers()]
            grads, val_loss = second_order_alpha_grads(
                lambda x, y: self._loss(x, y)[0],
                params,
                alphas,
                train,
                val,
                lr=lr,
                momentum=c.w_momentum,
                weight_decay=c.w_weight_decay,
                momentum_buffers=buffers,
            )
            with torch.no_grad():
                for b, saved in zip(self.model.buffers(), statistics, strict=True):
                    b.copy_(saved)
            val_correct = -1
        for alpha, grad in zip(alphas, grads, strict=True):
            alpha.grad = grad
        self.a_optimizer.step()

        self.w_optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            weights = self.softmax()
        logits = self.model(train[0], weights)
        loss = F.cross_entropy(logits, train[1])
        if not torch.isfinite(loss):
            msg = f"supernet training diverged: the training loss is {loss.item()}"
            raise FloatingPointError(msg)
        loss.backward()
        if c.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
        self.w_optimizer.step()
        return {
            "train_loss": float(loss.detach()),
            "train_correct": int((logits.argmax(1) == train[1]).sum()),
            "search_loss": float(val_loss.detach()),
            "search_correct": val_correct,
        }

    # -- one epoch

    def _batches(self, n: int) -> list[Tensor]:
        order = torch.randperm(n, generator=self.generator).to(self.device)
        size = self.config.batch_size
        # BatchNorm cannot train on a single sample.
        return [order[s : s + size] for s in range(0, n, size) if min(size, n - s) >= 2]

    def train_epoch(self, epoch: int, deadline: float | None = None, measure_memory: bool = False) -> dict[str, Any]:
        """Train one epoch; returns its metrics (``complete`` is False if ``deadline`` cut it short)."""
        started = time.perf_counter()
        lr = self.lr(epoch)
        for group in self.w_optimizer.param_groups:
            group["lr"] = lr
        self.model.aux_skip = self.aux_skip(epoch)
        self.model.train()
        train_batches = self._batches(len(self.y_train))
        val_batches = self._batches(len(self.y_val))
        sums = {"train_loss": 0.0, "train_correct": 0, "search_loss": 0.0, "search_correct": 0}
        seen = searched = 0
        complete, memory = True, None
        for number, batch in enumerate(train_batches):
            val_batch = val_batches[number % len(val_batches)]
            train = (self.x_train[batch], self.y_train[batch])
            val = (self.x_val[val_batch], self.y_val[val_batch])
            if measure_memory and number == 0:
                before = _tensor_bytes(
                    [
                        list(self.model.state_dict().values()),
                        list(self.alphas.values()),
                        self.w_optimizer.state_dict()["state"],
                        self.a_optimizer.state_dict()["state"],
                    ]
                )
                metrics = {}

                def step(metrics=metrics, train=train, val=val) -> None:
                    metrics.update(self.step(train, val, lr))

                step_bytes, method = step_peak_bytes(step, self.device)
                memory = {"peak_bytes": before + step_bytes, "step_bytes": step_bytes, "method": method}
            else:
                metrics = self.step(train, val, lr)
            for key in sums:
                sums[key] += metrics[key] * (len(batch) if key.endswith("loss") else 1)
            seen += len(batch)
            searched += len(val_batch)
            if deadline is not None and time.perf_counter() > deadline:
                complete = False
                break
        val_loss, val_accuracy = self.evaluate()
        record = {
            "lr": lr,
            "aux_skip": self.model.aux_skip,
            "train_loss": sums["train_loss"] / max(seen, 1),
            "train_accuracy": sums["train_correct"] / max(seen, 1),
            "search_loss": sums["search_loss"] / max(seen, 1),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "seconds": time.perf_counter() - started,
            "complete": complete,
        }
        if self.config.order == 1:
            record["search_accuracy"] = sums["search_correct"] / max(searched, 1)
        if memory is not None:
            record["memory"] = memory
        return record

    @torch.no_grad()
    def evaluate(self, batch_size: int = 256) -> tuple[float, float]:
        """Loss and accuracy of the supernet on the validation split (eval mode)."""
        self.model.eval()
        weights = self.softmax()
        loss, correct = 0.0, 0
        for start in range(0, len(self.y_val), batch_size):
            x, y = self.x_val[start : start + batch_size], self.y_val[start : start + batch_size]
            logits = self.model(x, weights)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
        self.model.train()
        n = max(len(self.y_val), 1)
        return loss / n, correct / n

    # -- state

    def weights(self) -> dict[str, list[list[float]]]:
        """Softmax of the architecture parameters per cell kind, as lists."""
        with torch.no_grad():
            return {kind: w.cpu().tolist() for kind, w in self.softmax().items()}

    def state(self) -> dict[str, Any]:
        return {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "alphas": {k: a.detach().cpu() for k, a in self.alphas.items()},
            "w_optimizer": self.w_optimizer.state_dict(),
            "a_optimizer": self.a_optimizer.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        with torch.no_grad():
            for kind, alpha in self.alphas.items():
                alpha.copy_(state["alphas"][kind])
        self.w_optimizer.load_state_dict(state["w_optimizer"])
        self.a_optimizer.load_state_dict(state["a_optimizer"])
        self.generator.set_state(state["generator"])
