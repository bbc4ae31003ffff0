"""The population's forward and backward for plain MLPs, on stacked tensors without vmap.

vmap + functional_call run any module, but on small networks their per-call Python
(swapping parameters into the module, batching rules per op) costs about as much as the
arithmetic. A `Network` built only from Linear layers, Maxout and elementwise activations
needs none of it: each Linear of the K members is one batched matmul,

    Y[k] = X[k] · W[k]ᵀ + b[k]        (torch.baddbmm over the member dimension k),

and an elementwise activation acts on [K, B, F] as it does on [B, F]. Networks with
anything else (dropout, batch norm, convolutions, a user's own layers) keep vmap, whose
per-member buffers and randomness these layers need.

The backward of these networks is written out by hand as well (`loss_and_gradients`),
the backprop of the course notes, layer by layer from the loss down:

    loss      ∂L/∂f = (1/B)·∂ℓ/∂f      in closed form for the registry's losses
    Linear    ∂W = ∂Yᵀ·X,  ∂b = Σ_b ∂Y,  ∂X = ∂Y·W        (bmm over members)
    Maxout    ∂z_i = ∂y for the piece i that is the maximum (split evenly between ties)
    σ         torch's own backward kernels (threshold_backward, tanh_backward, …)

At these sizes autograd's per-node recording and its engine cost as much as the
arithmetic: on a 2-core CPU, the population step of the digits MLP (64→128→10, batch 32,
SGD momentum) takes 0.61 ms at K=2, 0.87 ms at K=8 and 1.44 ms at K=32 with autograd
through the stacked forward, and 0.34 / 0.45 / 0.79 ms with this backward
(bench/stacked_step.py, 2026-11-23). Each member's gradient comes from its own rows
only, so a NaN in one member stays in that member, as it does under autograd.
"""

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from steepest.nn import losses
from steepest.nn.layers import Maxout, Network

_ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.Identity)
_CONTAINERS = (Network, nn.Sequential, nn.ModuleList)


def supports(module: nn.Module) -> bool:
    """Whether a `Plan` can run `module`: a Network of Linear, Maxout, elementwise
    activations and a Flatten stem, with no buffers. Layers must be exactly these types:
    a subclass may compute something other than what the backward assumes."""
    if not isinstance(module, Network) or next(module.buffers(), None) is not None:
        return False
    allowed = (nn.Linear, Maxout, nn.Flatten, *_ELEMENTWISE, *_CONTAINERS)
    return all(type(m) in allowed for m in module.modules() if m is not module) and isinstance(
        module.stem, nn.Flatten | nn.Identity
    )


def stores_transposed(shape: torch.Size) -> bool:
    """Whether a population keeps a Linear weight [out, in] (stacked [K, out, in]) as
    [K, in, out] memory: when out > in, so its gradient's GEMM writes the longer rows
    (`product`)."""
    return shape[0] > shape[1]


def product(a: Tensor, b: Tensor, bias: Tensor | None = None) -> Tensor:
    """a·b (+ bias [K, N] on every row) for stacked matrices a [K, M, n] and b [K, n, N],
    formed as (bᵀ·aᵀ)ᵀ when N < M, returned as a [K, M, N] view of [K, N, M] memory.

    MKL's batched GEMM on a CPU is fast when the output's rows are long and several times
    slower when they are short: for a digits MLP's output layer (M = 32 examples, n = 128
    units, N = 10 classes) a·b takes 121 µs and (bᵀ·aᵀ)ᵀ 29 µs at K=32 (2-core AVX2
    CPU; the two orientations cost the same when M and N are both 16 or more)."""
    if b.shape[2] >= a.shape[1]:
        if bias is None:
            return torch.bmm(a, b)
        return torch.baddbmm(bias.unsqueeze(1), a, b)
    a_t, b_t = a.transpose(1, 2), b.transpose(1, 2)
    if bias is None:
        return torch.bmm(b_t, a_t).transpose(1, 2)
    return torch.baddbmm(bias.unsqueeze(2), b_t, a_t).transpose(1, 2)


def member_means(each: Callable, outputs: Tensor, targets: Tensor) -> Tensor:
    """mean_b each(f_kb, y_kb) for every member k [K]: all members' examples go through
    `each` in one call, flattened to [K·B, …] (a fused kernel, not a vmap over members)."""
    k, b = outputs.shape[:2]
    flat_outputs = outputs.reshape(k * b, *outputs.shape[2:])
    flat_targets = targets.reshape(k * b, *targets.shape[2:])
    return each(flat_outputs, flat_targets).view(k, b).mean(1)


class Plan:
    """A supported network as lists of layers, read off its modules once: running it then
    costs the tensor ops alone, not a walk of the module tree per step."""

    def __init__(self, network: Network) -> None:
        self.blocks = [_layers(block, f"blocks.{i}.") for i, block in enumerate(network.blocks)]
        self.head = _layers(network.head, "head.")
        self.layers = [layer for block in [*self.blocks, self.head] for layer in block]
        for before, layer in zip(self.layers, self.layers[1:]):
            if isinstance(before, _Linear) and isinstance(layer, _Elementwise):
                layer.work_in_place()
        # The backward stops at the first Linear: its input is the data (or a function of
        # the data alone), which needs no gradient.
        self.first = next(i for i, layer in enumerate(self.layers) if isinstance(layer, _Linear))

    def forward(self, params: dict[str, Tensor], x: Tensor, return_hidden: bool = False) -> Any:
        """Every member's output [K, B, out] (and hidden activations) for inputs x
        [K, B, ...]; `params` maps the network's parameter names to stacked [K, ...]
        tensors."""
        x = x.flatten(2)
        hidden = []
        for block in self.blocks:
            for layer in block:
                x = layer(params, x)
            hidden.append(x)
        for layer in self.head:
            x = layer(params, x)
        return (x, hidden) if return_hidden else x

    def loss_and_gradients(
        self,
        params: dict[str, Tensor],
        x: Tensor,
        target: Tensor,
        loss_each: Callable[[Tensor, Tensor], Tensor],
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Every member's batch loss L_k = mean_b ℓ(f_kb, y_kb) [K] and, for each name in
        `params`, ∂(Σ_k L_k)/∂θ [K, ...] in θ's own memory layout (what autograd would
        leave in θ.grad), by the hand-written backward. `loss_each(output, target)` gives
        per-example losses as in `member_means`.

        Call it under torch.no_grad() or inference mode (a population's step runs in the
        latter) or with parameters that do not require grad; otherwise autograd records the
        whole computation for nothing."""
        values = [x.flatten(2)]  # layer i maps values[i] to values[i + 1]
        for layer in self.layers:
            values.append(layer(params, values[-1]))
        batch_losses, grad = _output_gradient(loss_each, values[-1], target)
        grads: dict[str, Tensor] = {}
        for i in range(len(self.layers) - 1, self.first, -1):
            grad = self.layers[i].backward(params, values[i], values[i + 1], grad, grads)
        self.layers[self.first].parameter_gradients(params, values[self.first], grad, grads)
        return batch_losses, grads


class _Linear:
    """Y = X·Wᵀ + b for every member: one baddbmm over the member dimension."""

    def __init__(self, prefix: str, bias: bool) -> None:
        self.weight = f"{prefix}weight"
        self.bias = f"{prefix}bias" if bias else None

    def __call__(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        bias = None if self.bias is None else params[self.bias]
        return product(x, params[self.weight].transpose(1, 2), bias)

    def backward(
        self, params: dict[str, Tensor], x: Tensor, y: Tensor, grad: Tensor, grads: dict
    ) -> Tensor:
        """The parameters' gradients into `grads`; returns ∂X = ∂Y·W."""
        self.parameter_gradients(params, x, grad, grads)
        return product(grad, params[self.weight])

    def parameter_gradients(
        self, params: dict[str, Tensor], x: Tensor, grad: Tensor, grads: dict
    ) -> None:
        """∂W = ∂Yᵀ·X [K, out, in] and ∂b = Σ_b ∂Y, in the parameters' memory layout. A
        population of K > 1 stores some 2-D weights transposed (`stores_transposed`); for
        those ∂W is formed as (Xᵀ·∂Y)ᵀ, so the optimizer's foreach ops see matching
        strides."""
        weight = params[self.weight]
        if weight.stride(2) != 1:
            grads[self.weight] = torch.bmm(x.transpose(1, 2), grad).transpose(1, 2)
        else:
            grads[self.weight] = torch.bmm(grad.transpose(1, 2), x)
        if self.bias is not None:
            grads[self.bias] = grad.sum(1)


class _Maxout:
    """y_j = max_i z_ji over the pieces i of unit j (z from Maxout's Linear)."""

    def __init__(self, units: int, pieces: int) -> None:
        self.units, self.pieces = units, pieces

    def __call__(self, params: dict[str, Tensor], z: Tensor) -> Tensor:
        return z.unflatten(-1, (self.units, self.pieces)).amax(-1)

    def backward(
        self, params: dict[str, Tensor], z: Tensor, y: Tensor, grad: Tensor, grads: dict
    ) -> Tensor:
        """∂z_ji = ∂y_j / n_j where piece i attains the maximum (n_j of them), else 0 —
        autograd's rule for amax, so ties split alike."""
        chosen = z.unflatten(-1, (self.units, self.pieces)) == y.unsqueeze(-1)
        return (grad.unsqueeze(-1) / chosen.sum(-1, keepdim=True) * chosen).flatten(-2)


class _Elementwise:
    """y = σ(x) elementwise; ∂x = σ'(x)·∂y by torch's own backward kernel.

    After a Linear, whose output nothing else reads, ReLU, tanh and sigmoid overwrite x
    with y and their backward overwrites ∂y with ∂x (both fresh tensors of the step; the
    derivative reads σ' off y): no allocation, and ReLU's pair of passes takes 24 µs
    instead of 42 at K=42 on a 2-core CPU."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.function, self.derivative = _activation(module, in_place=False)

    def work_in_place(self) -> None:
        """Overwrite the input and the incoming gradient (where `_activation` can)."""
        self.function, self.derivative = _activation(self.module, in_place=True)

    def __call__(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        return self.function(x)

    def backward(
        self, params: dict[str, Tensor], x: Tensor, y: Tensor, grad: Tensor, grads: dict
    ) -> Tensor:
        return self.derivative(grad, x, y)


_aten = torch.ops.aten
# The activations whose σ' torch's backward kernel reads off the output y: σ, σ in place,
# that kernel (∂y, y, *extra) ↦ ∂x, and its extra arguments.
_READ_OFF_OUTPUT: dict[type, tuple[Callable, Callable, Any, tuple]] = {
    nn.ReLU: (torch.relu, torch.relu_, _aten.threshold_backward, (0,)),
    nn.Tanh: (torch.tanh, torch.tanh_, _aten.tanh_backward, ()),
    nn.Sigmoid: (torch.sigmoid, torch.sigmoid_, _aten.sigmoid_backward, ()),
}


def _activation(module: nn.Module, in_place: bool) -> tuple[Callable, Callable]:
    """(σ, (∂y, x, y) ↦ ∂x = σ'(x)·∂y) for an activation module, the derivative by torch's
    own kernels. `in_place`: σ overwrites x and the derivative overwrites ∂y, for ReLU,
    tanh and sigmoid; LeakyReLU's derivative reads x, so it keeps its own tensors."""
    if type(module) in _READ_OFF_OUTPUT:
        function, function_, kernel, extra = _READ_OFF_OUTPUT[type(module)]
        if in_place:
            return function_, lambda g, x, y: kernel.grad_input(g, y, *extra, grad_input=g)
        return function, lambda g, x, y: kernel(g, y, *extra)
    slope = module.negative_slope  # LeakyReLU, the last of `_ELEMENTWISE` with a layer
    return (
        partial(F.leaky_relu, negative_slope=slope),
        lambda g, x, y: _aten.leaky_relu_backward(g, x, slope, False),
    )


_Layer = _Linear | _Maxout | _Elementwise


def _layers(module: nn.Module, prefix: str) -> list[_Layer]:
    """The layers `module` runs, in order; `prefix` names its parameters. Identity and a
    Flatten past the stem (inputs are [K, B, F] there already) run nothing."""
    if isinstance(module, nn.Sequential):
        return [
            layer
            for name, child in module.named_children()
            for layer in _layers(child, f"{prefix}{name}.")
        ]
    if isinstance(module, nn.Linear):
        return [_Linear(prefix, module.bias is not None)]
    if isinstance(module, Maxout):
        linear = _Linear(f"{prefix}linear.", module.linear.bias is not None)
        return [linear, _Maxout(module.out_features, module.pieces)]
    if isinstance(module, nn.Flatten | nn.Identity):
        return []
    return [_Elementwise(module)]


# ----- loss ---------------------------------------------------------------------------


def _output_gradient(
    loss_each: Callable[[Tensor, Tensor], Tensor], output: Tensor, target: Tensor
) -> tuple[Tensor, Tensor]:
    """L_k [K] and ∂(Σ_k L_k)/∂f = (1/B)·∂ℓ/∂f [K, B, …]: ∂ℓ/∂f in closed form for the
    registry's losses, autograd on the output alone for any other loss. The closed form is
    the faster: cross-entropy's value and gradient take 40 µs, with autograd on the output
    180 µs (K=8, batch 32, 10 classes, 2-core CPU)."""
    rule, options = _closed_form(loss_each)
    if rule is None:
        with torch.enable_grad():
            leaf = output.detach().requires_grad_()
            batch_losses = member_means(loss_each, leaf, target)
            (grad,) = torch.autograd.grad(batch_losses.sum(), leaf)
        return batch_losses.detach(), grad
    each, grad = rule(output, target, **options)
    batch_losses = member_means(loss_each, output, target) if each is None else each.mean(1)
    return batch_losses, grad.div_(output.shape[1])


def _closed_form(loss_each: Callable) -> tuple[Callable | None, dict[str, Any]]:
    """The closed form of `loss_each` (`_CLOSED_FORMS`) and the keyword options to call it
    with (`make_loss` wraps huber in a partial for δ); (None, {}) for any other loss."""
    options: dict[str, Any] = {}
    if isinstance(loss_each, partial) and not loss_each.args:
        loss_each, options = loss_each.func, loss_each.keywords
    return _CLOSED_FORMS.get(loss_each), options


def _as_output(target: Tensor, output: Tensor) -> Tensor:
    """A regression target y in f's dtype and shape ([K, B] → [K, B, 1])."""
    return target.to(output.dtype).reshape(output.shape)


def _mse(output: Tensor, target: Tensor) -> tuple[None, Tensor]:
    """ℓ = ½Σ(y − f)²:  ∂ℓ/∂f = f − y."""
    return None, output - _as_output(target, output)


def _l1(output: Tensor, target: Tensor) -> tuple[None, Tensor]:
    """ℓ = Σ|y − f|:  ∂ℓ/∂f = sign(f − y) (0 where f = y, autograd's subgradient)."""
    return None, torch.sign(output - _as_output(target, output))


def _huber(output: Tensor, target: Tensor, delta: float = 1.0) -> tuple[None, Tensor]:
    """ℓ = Σ h(y − f):  ∂ℓ/∂f = clamp(f − y, −δ, δ)."""
    return None, (output - _as_output(target, output)).clamp_(-delta, delta)


def _cross_entropy(output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """ℓ = −log p_y,  p = softmax(f):  ∂ℓ/∂f = p − onehot(y). ℓ falls out of the
    log-softmax the gradient needs (torch's cross_entropy computes ℓ the same way, as
    −(log_softmax f)_y), so it is not computed twice: 20 µs less a step at K=2.

    The classes are reduced along whichever dimension is contiguous in memory: `product`
    leaves a narrow output layer's f [K, B, C] in [K, C, B] memory, and log_softmax
    along dim 1 of that takes 12 µs against 43 µs on the transposed view (K=42)."""
    dim = 1 if output.dim() == 3 and output.stride(2) != 1 else -1
    if dim == 1:
        output = output.transpose(1, 2)
    index = target.long().unsqueeze(dim)
    log_p = torch.log_softmax(output, dim)
    each = log_p.gather(dim, index).squeeze(dim).neg_()
    grad = log_p.exp_().scatter_add_(dim, index, log_p.new_full(index.shape, -1.0))
    return each, grad.transpose(1, 2) if dim == 1 else grad


def _hinge(output: Tensor, target: Tensor) -> tuple[None, Tensor]:
    """ℓ = Σ_j max(0, f_j − f_y + 1) − 1:  ∂ℓ/∂f_j = [f_j − f_y + 1 > 0], minus the count
    of such j at j = y."""
    index = target.long().unsqueeze(-1)
    active = (output - output.gather(-1, index) + 1.0 > 0).to(output.dtype)
    return None, active.scatter_add_(-1, index, -active.sum(-1, keepdim=True))


def _logistic(output: Tensor, target: Tensor) -> tuple[None, Tensor]:
    """ℓ = softplus(−s·f), s = 2y − 1:  ∂ℓ/∂f = −s·sigmoid(−s·f)."""
    sign = (2.0 * target.to(output.dtype) - 1.0).reshape(output.shape)
    return None, torch.sigmoid(-sign * output).mul_(-sign)


# Each registry loss's closed form: (ℓ [K, B] when it comes with the gradient's work, else
# None and `loss_each` gives it; ∂ℓ/∂f [K, B, …]), both per example.
_CLOSED_FORMS: dict[Callable, Callable[..., tuple[Tensor | None, Tensor]]] = {
    losses.mse_each: _mse,
    losses.l1_each: _l1,
    losses.huber_each: _huber,
    losses.cross_entropy_each: _cross_entropy,
    losses.hinge_each: _hinge,
    losses.logistic_each: _logistic,
}
