"""Optimizer playground: update rules side by side on 2-D test functions.

Every gradient rule of the comparison is a member of ONE `Population` whose module has a
single parameter, the point w = (x, y), and whose forward ignores its input and returns
f(w); the loss is that output. So the rules move exactly as they would train a network.
The notes' random local search (`steepest.optim.random_search`) is no gradient rule; it
runs beside the population from the same start, to show what following the gradient buys.

    rosenbrock  f = (1 − x)² + 100·(y − x²)²                     minimum (1, 1)
    beale       f = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²   (3, 0.5)
    saddle      f = x² − y²                  stationary point (0, 0), unbounded below
    quadratic   f = ½·(x² + 50·y²)           minimum (0, 0), condition number 50

Default learning rates make every rule visibly approach the minimum in the default steps
without diverging. On Rosenbrock and Beale, sgd, momentum and nesterov share one α, so the
picture shows what momentum adds at the same step size (about 1/(1 − μ) = 10× the reach
along a shallow valley). The saddle starts 10⁻³ off the ridge y = 0: plain gradient steps
slide towards the saddle point and leave it only as the tiny y grows by (1 + 2α) a step,
while the adaptive rules rescale that tiny gradient and escape at once. A point is one
update of every rule, and an L-BFGS update is up to 20 iterations (torch's max_iter): it
reaches Rosenbrock's minimum in five points, having evaluated f a hundred times.

Plots (`write_plots`): one PNG with the paths over contour lines and f against the step,
and optionally an animated GIF. matplotlib is imported inside the plotting functions: the
CLI imports this module at start-up, and every other command would pay for it.
"""

import argparse
import json
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from rich import box
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn

from steepest import rng
from steepest.errors import UserError
from steepest.optim import RULES
from steepest.optim import random_search as random_search_rule
from steepest.population import Member, Population

if TYPE_CHECKING:  # matplotlib and Pillow load only when plotting (see the module doc)
    from matplotlib.axes import Axes
    from matplotlib.ticker import FixedLocator
    from PIL.Image import Image as PILImage

RANDOM_SEARCH = "random_search"
OPTIMIZERS = (*RULES, RANDOM_SEARCH)
MAX_STEPS = 1_000_000  # 1e6 steps of every optimizer: about 1.4 GB and 3 minutes here


@dataclass(frozen=True)
class Landscape:
    """A 2-D test function with its minimum (or, for the saddle, stationary point, named by
    `star`), a default start, a plot window, a default number of steps and a default
    learning rate per optimizer (for random search: the perturbation scale σ)."""

    name: str
    formula: str
    f: Callable[[Tensor, Tensor], Tensor]
    minimum: tuple[float, float]
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    steps: int
    lrs: Mapping[str, float]
    log_levels: bool = True
    star: str = "minimum"

    def __call__(self, points: Tensor) -> Tensor:
        """f at points [..., 2] → [...]."""
        return self.f(points[..., 0], points[..., 1])


def _rosenbrock(x: Tensor, y: Tensor) -> Tensor:
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _beale(x: Tensor, y: Tensor) -> Tensor:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _saddle(x: Tensor, y: Tensor) -> Tensor:
    return x**2 - y**2


def _quadratic(x: Tensor, y: Tensor) -> Tensor:
    return 0.5 * (x**2 + 50 * y**2)


# Rosenbrock's and Beale's steep curved valleys take the same rates.
_CURVED_VALLEY_LRS = {
    "sgd": 1e-3,
    "momentum": 1e-3,
    "nesterov": 1e-3,
    "adagrad": 0.5,
    "rmsprop": 0.01,
    "adam": 0.05,
    "adamw": 0.05,
    "lbfgs": 1.0,
    RANDOM_SEARCH: 0.05,
}

LANDSCAPES: dict[str, Landscape] = {
    landscape.name: landscape
    for landscape in (
        Landscape(
            "rosenbrock",
            "(1 − x)² + 100(y − x²)²",
            _rosenbrock,
            minimum=(1.0, 1.0),
            start=(-1.5, 2.0),
            xlim=(-2.0, 2.0),
            ylim=(-1.0, 3.0),
            steps=1000,
            lrs=_CURVED_VALLEY_LRS,
        ),
        Landscape(
            "beale",
            "(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
            _beale,
            minimum=(3.0, 0.5),
            start=(1.0, 1.5),
            xlim=(-4.5, 4.5),
            ylim=(-4.5, 4.5),
            steps=500,
            lrs=_CURVED_VALLEY_LRS,
        ),
        Landscape(
            "saddle",
            "x² − y²",
            _saddle,
            minimum=(0.0, 0.0),
            start=(-1.0, 1e-3),
            xlim=(-1.5, 1.5),
            ylim=(-1.5, 1.5),
            steps=100,
            lrs={
                "sgd": 0.035,
                "momentum": 5e-3,
                "nesterov": 5e-3,
                "adagrad": 0.05,
                "rmsprop": 5e-3,
                "adam": 0.01,
                "adamw": 0.01,
                "lbfgs": 1e-3,
                RANDOM_SEARCH: 0.04,
            },
            log_levels=False,
            star="saddle point",
        ),
        Landscape(
            "quadratic",
            "½(x² + 50y²)",
            _quadratic,
            minimum=(0.0, 0.0),
            start=(-4.0, 1.0),
            xlim=(-5.0, 5.0),
            ylim=(-2.0, 2.0),
            steps=200,
            lrs={
                "sgd": 0.035,
                "momentum": 0.01,
                "nesterov": 0.01,
                "adagrad": 1.0,
                "rmsprop": 0.05,
                "adam": 0.1,
                "adamw": 0.1,
                "lbfgs": 1.0,
                RANDOM_SEARCH: 0.1,
            },
        ),
    )
}


@dataclass(frozen=True)
class Trajectory:
    """One optimizer's path: the point before the first step and after each, [steps+1, 2],
    and f there [steps+1]."""

    optimizer: str
    lr: float
    points: Tensor
    values: Tensor

    @property
    def steps(self) -> int:
        """The steps taken: one fewer than the points."""
        return len(self.points) - 1

    @property
    def start(self) -> tuple[float, float]:
        """The point before the first step (every optimizer of a run shares it)."""
        x, y = self.points[0].tolist()
        return x, y


class Point(nn.Module):
    """The point w = (x, y) as the one parameter [2]; forward(x) = f(w) for each of the
    B rows of x (the input is ignored), so the per-example loss is the output itself."""

    def __init__(self, landscape: Landscape, start: tuple[float, float]) -> None:
        super().__init__()
        self.landscape = landscape
        self.point = nn.Parameter(torch.tensor(start, dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        return self.landscape(self.point).expand(x.shape[0])


def value_as_loss(output: Tensor, target: Tensor) -> Tensor:
    """ℓ = f(w): the module's output is already the loss."""
    return output


# ----- input ----------------------------------------------------------------------------


def landscape_named(name: str) -> Landscape:
    """The test function `name`, or a UserError listing them."""
    if name not in LANDSCAPES:
        raise UserError(f"function = {name!r}: expected one of {', '.join(LANDSCAPES)}")
    return LANDSCAPES[name]


def _check_optimizers(optimizers: Sequence[str]) -> None:
    if not optimizers:
        raise UserError(f"optimizers: name at least one of {', '.join(OPTIMIZERS)}")
    for name in optimizers:
        if name not in OPTIMIZERS:
            raise UserError(f"optimizer = {name!r}: expected one of {', '.join(OPTIMIZERS)}")
    repeated = sorted({name for name in optimizers if list(optimizers).count(name) > 1})
    if repeated:
        raise UserError(f"optimizer {repeated[0]!r} is listed twice: name each once")


def _check_lrs(lrs: Mapping[str, float], optimizers: Sequence[str]) -> None:
    """Each override names an optimizer of this run and is a finite positive number (a
    rate for a rule that does not run is a typo, not something to ignore silently)."""
    for name, lr in lrs.items():
        if name not in optimizers:
            raise UserError(
                f"lr {name}={lr!r}: {name!r} is not among the optimizers run "
                f"({', '.join(optimizers)})"
            )
        if not (math.isfinite(lr) and lr > 0):
            raise UserError(f"lr {name}={lr!r}: expected a positive number")


def _check_start(start: tuple[float, float]) -> None:
    if not all(math.isfinite(v) for v in start):
        raise UserError(f"start = {start!r}: expected two finite numbers x, y")


def parse_optimizers(text: str) -> list[str]:
    """'sgd, adam' → ['sgd', 'adam'] (checked by `run_playground`)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def parse_lrs(texts: Sequence[str]) -> dict[str, float]:
    """['adam=0.1,sgd=1e-3', 'momentum=0.01'] → {'adam': 0.1, 'sgd': 0.001, ...}; an
    optimizer given two rates is refused, as one listed twice in --optimizers is."""
    lrs: dict[str, float] = {}
    for item in (part.strip() for text in texts for part in text.split(",") if part.strip()):
        name, _, value = item.partition("=")  # no '=': value '' is no number either
        name = name.strip()
        try:
            lr = float(value)
        except ValueError:
            raise UserError(f"--lr {item!r}: expected OPTIMIZER=RATE, e.g. adam=0.1") from None
        if name in lrs:
            raise UserError(f"--lr {name}: given twice ({lrs[name]:g} and {lr:g}): give one rate")
        lrs[name] = lr
    return lrs


def parse_start(text: str) -> tuple[float, float]:
    """'-1.5,2' → (-1.5, 2.0)."""
    parts = text.split(",")
    try:
        x, y = (float(part) for part in parts)
    except ValueError:
        raise UserError(f"--start {text!r}: expected two numbers x,y, e.g. -1.5,2") from None
    return x, y


# ----- descent --------------------------------------------------------------------------


def _descend(
    landscape: Landscape,
    optimizers: Sequence[str],
    lrs: Mapping[str, float],
    steps: int,
    start: tuple[float, float],
    seed: int,
) -> dict[str, Tensor]:
    """Every gradient rule as one member of one population: the points [steps+1, 2].

    The loss is f(w) whatever the example, so `steps` dummy examples in batches of one
    make one epoch of `steps` steps (no per-step epoch bookkeeping).
    """
    population = Population(
        lambda: Point(landscape, start),
        value_as_loss,
        value_as_loss,
        x_train=torch.zeros(steps, 1),
        y_train=torch.zeros(steps),
        batch_size=1,
    )
    population.add(
        [
            Member(id=i, seed=seed, optimizer=name, hparams={"lr": lrs[name]}, epochs=1)
            for i, name in enumerate(optimizers)
        ]
    )
    points = [population.flat]
    population.begin_epoch()
    for _ in range(steps):
        population.step()
        points.append(population.flat)
    population.end_epoch()
    path = torch.stack(points, 1)  # [K, steps+1, 2] in population row order
    return {m.optimizer: path[row] for row, m in enumerate(population.members)}


def _random_search(
    landscape: Landscape, sigma: float, steps: int, start: tuple[float, float], seed: int
) -> Tensor:
    """The notes' random local search, one try per step: the points [steps+1, 2]."""
    point = torch.tensor([start], dtype=torch.float64)  # [K=1, 2]
    hp = {"lr": sigma, "tries": 1}
    points = [point.clone()]
    for step in range(steps):
        key = rng.derive_key(torch.tensor([seed]), step)
        random_search_rule.step([point], lambda params: landscape(params[0]), hp, key)
        points.append(point.clone())
    return torch.cat(points)


def run_playground(
    function: str,
    optimizers: Sequence[str] | str,
    steps: int | None = None,
    lrs: Mapping[str, float] | None = None,
    start: tuple[float, float] | None = None,
    seed: int = 0,
) -> list[Trajectory]:
    """Run each optimizer from one start on the test function `function`; one trajectory
    per optimizer, in the order given. `lrs` overrides the function's default learning
    rates (for random search: σ); `steps` and `start` its default step count and start;
    `seed` drives random search's draws (the gradient rules are deterministic)."""
    landscape = landscape_named(function)
    optimizers = [optimizers] if isinstance(optimizers, str) else list(optimizers)  # one name
    _check_optimizers(optimizers)
    overrides = lrs or {}
    _check_lrs(overrides, optimizers)
    lrs = {**landscape.lrs, **overrides}
    steps = landscape.steps if steps is None else steps
    if not 1 <= steps <= MAX_STEPS:  # a path is kept point by point: 1e8 steps took 24 GB
        raise UserError(f"steps = {steps!r}: expected 1 to {MAX_STEPS:,}")
    start = landscape.start if start is None else (float(start[0]), float(start[1]))
    _check_start(start)
    gradient_rules = [name for name in optimizers if name != RANDOM_SEARCH]
    paths = _descend(landscape, gradient_rules, lrs, steps, start, seed) if gradient_rules else {}
    if RANDOM_SEARCH in optimizers:
        paths[RANDOM_SEARCH] = _random_search(landscape, lrs[RANDOM_SEARCH], steps, start, seed)
    return [Trajectory(name, lrs[name], paths[name], landscape(paths[name])) for name in optimizers]


def summarize(landscape: Landscape, trajectories: Sequence[Trajectory]) -> list[dict[str, Any]]:
    """Per optimizer: its rate (σ for random search), f at the last point, the distance
    ‖w − w*‖ from there to the minimum (or saddle point) w*, and the last point;
    non-finite numbers (a diverged run) become None, so the summary is valid JSON."""
    star = torch.tensor(landscape.minimum, dtype=torch.float64)
    return [
        {
            "optimizer": t.optimizer,
            "lr": t.lr,
            "final_f": _finite(t.values[-1].item()),
            "distance": _finite((t.points[-1] - star).norm().item()),
            "final_point": [_finite(v) for v in t.points[-1].tolist()],
        }
        for t in trajectories
    ]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# ----- plots ----------------------------------------------------------------------------


def _grid(landscape: Landscape, n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y and f(x, y) on an n × n grid over the plot window."""
    xs = torch.linspace(*landscape.xlim, n, dtype=torch.float64)
    ys = torch.linspace(*landscape.ylim, n, dtype=torch.float64)
    x, y = torch.meshgrid(xs, ys, indexing="xy")
    return x.numpy(), y.numpy(), landscape.f(x, y).numpy()


def _levels(z: np.ndarray, log_levels: bool, count: int = 25) -> np.ndarray:
    """Contour levels over the grid's values. Log-spaced (from the smallest positive value,
    at least 10⁻⁶ of the largest) where f spans decades — Rosenbrock's valley floor is
    1000× below its walls, and even levels would all crowd onto the walls; evenly spaced
    otherwise (the saddle's f is negative on half the window)."""
    high = float(z.max())
    if not log_levels:
        return np.linspace(float(z.min()), high, count)
    low = max(float(z[z > 0].min()), high * 1e-6)
    return np.geomspace(low, high, count)


def _label(trajectory: Trajectory) -> str:
    rate = "σ" if trajectory.optimizer == RANDOM_SEARCH else "lr"
    return f"{trajectory.optimizer} ({rate} = {trajectory.lr:g})"


def _colors(count: int) -> list[tuple[float, ...]]:
    """One distinct RGBA colour per optimizer, the same in the PNG and the GIF."""
    import matplotlib

    return [matplotlib.colormaps["tab10"](i % 10) for i in range(count)]


def _title(landscape: Landscape) -> str:
    return f"{landscape.name}: f = {landscape.formula}"


def _draw_landscape(ax: "Axes", landscape: Landscape, start: tuple[float, float]) -> None:
    """Contour lines of f over the window, the start (●) and the minimum or saddle (★)."""
    from steepest.report import canvas

    x, y, z = _grid(landscape)
    levels = _levels(z, landscape.log_levels)
    ax.contour(x, y, z, levels=levels, colors=canvas.MUTED, linewidths=0.6, alpha=0.7)
    ax.grid(False)
    label = f"start ({start[0]:g}, {start[1]:g})"
    ax.plot(*start, "o", color="black", markersize=7, label=label, zorder=5)
    star = landscape.minimum
    label = f"{landscape.star} ({star[0]:g}, {star[1]:g})"
    ax.plot(*star, "*", color=canvas.BEST, markersize=14, label=label, zorder=5)
    ax.set(xlim=landscape.xlim, ylim=landscape.ylim, xlabel="x", ylabel="y")
    ax.set_title(_title(landscape), fontsize=9)


def _draw_paths(ax: "Axes", trajectories: Sequence[Trajectory], colors: Sequence) -> None:
    """Each path as a line through its points; the window stays the landscape's, so a path
    that leaves it (or diverges) is cut at the edge rather than rescaling the axes."""
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    for t, color in zip(trajectories, colors, strict=True):
        points = t.points.numpy()
        ax.plot(points[:, 0], points[:, 1], color=color, linewidth=1.4, label=_label(t))
        ax.plot(*points[-1], "o", color=color, markersize=4)
    ax.set(xlim=xlim, ylim=ylim)


def _draw_values(ax: "Axes", trajectories: Sequence[Trajectory], colors: Sequence) -> None:
    """f(w) after each step; a log y axis when every finite value is positive (however
    many decades they span: a quadratic run reaches 1e-28, and `canvas.log_scale` keeps
    labelled ticks there). Where f may fall without bound (the saddle), a path that runs
    off to −1e27 would flatten every other onto one line: past a thousand times f(start)
    the axis is symmetric-log, linear within ±|f(start)|."""
    from steepest.report import canvas

    finite = []
    for t, color in zip(trajectories, colors, strict=True):
        values = t.values.numpy()
        values = np.where(np.isfinite(values), values, np.nan)
        ax.plot(np.arange(len(values)), values, color=color, linewidth=1.4)
        finite.append(values[np.isfinite(values)])
    finite = np.concatenate(finite)
    start = abs(float(trajectories[0].values[0])) or 1.0
    if finite.size and finite.min() > 0:
        canvas.log_scale(ax, "y")
    elif finite.size and np.abs(finite).max() > 1e3 * start:
        ax.set_yscale("symlog", linthresh=start)
        ax.yaxis.set_major_locator(_symlog_ticks(start, finite.min(), finite.max()))
    ax.set(title="f(w) per step", xlabel="step", ylabel="f(w)")


def _symlog_ticks(linthresh: float, low: float, high: float) -> "FixedLocator":
    """0 and ±10ᵏ from the linear region's edge out to the data, at most 8 a side:
    matplotlib's own locator also put ±10⁻¹ inside the linear region, where they fell on
    0 and one another."""
    from matplotlib.ticker import FixedLocator

    first = math.ceil(math.log10(linthresh))
    ticks = [0.0]
    for sign, reach in ((1.0, high), (-1.0, -low)):
        if reach <= linthresh:
            continue
        last = math.ceil(math.log10(reach))
        stride = max(1, math.ceil((last - first + 1) / 8))
        ticks += [sign * 10.0**k for k in range(first, last + 1, stride)]
    return FixedLocator(sorted(ticks))


def _png(landscape: Landscape, trajectories: Sequence[Trajectory], path: Path) -> Path:
    """Paths over contour lines (left) and f against the step (right), one legend."""
    from steepest.report import canvas

    fig, axes = canvas.new_figure(12, 4.8, cols=2)
    colors = _colors(len(trajectories))
    _draw_landscape(axes[0, 0], landscape, trajectories[0].start)
    _draw_paths(axes[0, 0], trajectories, colors)
    _draw_values(axes[0, 1], trajectories, colors)
    steps = trajectories[0].steps
    fig.suptitle(f"{len(trajectories)} optimizers, {steps} steps", fontweight="bold")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right upper")
    return canvas.save_png(fig, path)


def _gif_background(
    landscape: Landscape, trajectories: Sequence[Trajectory], colors: Sequence
) -> tuple["PILImage", Callable[[np.ndarray], np.ndarray], tuple[float, float, float, float]]:
    """The still part of every frame, rendered once by matplotlib: contour lines, start,
    minimum and a legend. Returns it as a PIL image, the map from (x, y) to its pixels, and
    the axes' box in pixels (left, top, right, bottom)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from PIL import Image

    from steepest.report import canvas

    fig, axes = canvas.new_figure(7.5, 4, rows=1, cols=1)
    fig.set_dpi(80)
    ax = axes[0, 0]
    _draw_landscape(ax, landscape, trajectories[0].start)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color=c, label=_label(t)) for t, c in zip(trajectories, colors)]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    fig.canvas.draw()
    image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    height = image.height
    transform = ax.transData.frozen()
    left, bottom, right, top = ax.bbox.extents
    plt.close(fig)

    def to_pixels(points: np.ndarray) -> np.ndarray:
        """Data coordinates [n, 2] → image pixels [n, 2] (y down), clipped to ±10⁵ px so a
        diverged point stays drawable (its segment is cut at the axes anyway)."""
        pixels = transform.transform(points)
        pixels[:, 1] = height - pixels[:, 1]
        return np.clip(pixels, -1e5, 1e5)

    return image, to_pixels, (left, height - top, right, height - bottom)


def _palette(rgb: "PILImage", colors: Sequence) -> tuple["PILImage", int]:
    """`rgb` as a palette image whose last entries are the paths' exact colours, then
    black: (the image, the index of the first path colour). The background's own colours
    take the other entries, so the legend's lines map onto the paths' colours exactly."""
    from PIL import Image

    first = 255 - len(colors)
    palette = rgb.quantize(first, dither=Image.Dither.NONE).getpalette()[: 3 * first]
    for color in [*colors, (0.0, 0.0, 0.0)]:
        palette += [round(255 * c) for c in color[:3]]
    exact = Image.new("P", (1, 1))
    exact.putpalette(palette)
    return rgb.quantize(palette=exact, dither=Image.Dither.NONE), first


def _frame(
    background: "PILImage", paths: Sequence[np.ndarray], first: int, step: int, axes_box: Sequence
) -> "PILImage":
    """The background with each path (pixels [steps+1, 2]) drawn up to `step` in palette
    colour first + i, a dot at its current point and the step number (black, index 255)."""
    from PIL import ImageDraw

    frame = background.copy()
    draw = ImageDraw.Draw(frame)
    for index, pixels in enumerate(paths, start=first):
        shown = pixels[: step + 1]
        shown = shown[np.isfinite(shown).all(1)]
        if len(shown) > 1:
            draw.line([tuple(p) for p in shown], fill=index, width=2)
        if len(shown):
            x, y = shown[-1]
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=index, outline=255)
    draw.text((axes_box[0] + 6, axes_box[1] + 4), f"step {step}", fill=255)
    return frame


def _gif(
    landscape: Landscape, trajectories: Sequence[Trajectory], path: Path, frames: int = 40
) -> Path:
    """An animated GIF: the points move along their paths over `frames` evenly spaced
    steps. Cheap by construction (well under a second): matplotlib renders the background
    once and it is reduced to one shared palette once; each frame only draws lines and dots
    on a copy with PIL, then takes the background back outside the axes, so a path that
    leaves the window is cut at its edge. Frames differ only where the points moved, which
    keeps the file small (under 100 kB for the defaults)."""
    from PIL import Image, ImageDraw

    colors = _colors(len(trajectories))
    rgb, to_pixels, axes_box = _gif_background(landscape, trajectories, colors)
    background, first = _palette(rgb, colors)
    inside = Image.new("L", background.size, 0)
    ImageDraw.Draw(inside).rectangle(axes_box, fill=255)
    paths = [to_pixels(t.points.numpy()) for t in trajectories]
    steps = trajectories[0].steps
    images = [
        Image.composite(_frame(background, paths, first, step, axes_box), background, inside)
        for step in np.unique(np.linspace(0, steps, frames).round().astype(int))
    ]
    durations = [80] * (len(images) - 1) + [1500]  # ms; the last frame stays a while
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


def write_plots(
    function: str, trajectories: Sequence[Trajectory], out: Path, gif: bool = False
) -> list[Path]:
    """Write ``out/FUNCTION.png`` (and with `gif` ``out/FUNCTION.gif``); return the paths."""
    import matplotlib

    from steepest.report import canvas

    landscape = landscape_named(function)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(canvas.STYLE):
        written = [_png(landscape, trajectories, out / f"{function}.png")]
        if gif:
            written.append(_gif(landscape, trajectories, out / f"{function}.gif"))
    return written


# ----- command line ---------------------------------------------------------------------


def _table(summary: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("optimizer", "lr", "final f", "distance", "final point"):
        table.add_column(column, justify="left" if column == "optimizer" else "right", no_wrap=True)
    for row in summary:
        point = row["final_point"]
        table.add_row(
            row["optimizer"],
            f"{row['lr']:g}",
            _number(row["final_f"]),
            _number(row["distance"]),
            f"({_number(point[0])}, {_number(point[1])})",
        )
    return table


def _number(value: float | None) -> str:
    return "diverged" if value is None else f"{value:.4g}"


def _check_out(out: Path) -> None:
    """--out is a folder the plots can be written to, or one that can be made: known
    before anything is computed. A temporary file in the nearest existing folder tries
    it without leaving anything behind (permission bits do not tell for root or /proc)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; expected a folder to write the plots into")
    existing = next(folder for folder in (out, *out.parents) if folder.exists())
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise UserError(f"--out {out}: cannot write there ({error.strerror})") from None


def _run(args: argparse.Namespace) -> None:
    _check_out(args.out)
    landscape = landscape_named(args.function)
    optimizers = OPTIMIZERS if args.optimizers is None else parse_optimizers(args.optimizers)
    start = None if args.start is None else parse_start(args.start)
    trajectories = run_playground(
        args.function, optimizers, args.steps, parse_lrs(args.lr), start, args.seed
    )
    files = [str(p) for p in write_plots(args.function, trajectories, args.out, args.gif)]
    summary = summarize(landscape, trajectories)
    first = trajectories[0]
    if args.json:
        print(
            json.dumps(
                {
                    "function": landscape.name,
                    "steps": first.steps,
                    "start": list(first.start),
                    "minimum": list(landscape.minimum),
                    "optimizers": summary,
                    "files": files,
                }
            )
        )
        return
    console = Console()
    console.print(_table(summary))
    x, y = first.start
    star = landscape.minimum
    console.print(
        f"[dim]{_title(landscape)}, {first.steps} steps from "
        f"({x:g}, {y:g}); distance to the {landscape.star} ({star[0]:g}, {star[1]:g})[/]"
    )
    console.print(f"files: {', '.join(files)}")


def add_command(commands: argparse._SubParsersAction) -> None:
    """`steepest playground [FUNCTION]`: optimizers side by side on a 2-D test function."""
    command = commands.add_parser(
        "playground", help="optimizers side by side on a 2-D test function: paths and f"
    )
    command.add_argument(
        "function",
        nargs="?",
        metavar="FUNCTION",
        default="rosenbrock",
        help=f"{' | '.join(LANDSCAPES)} (rosenbrock)",
    )
    command.add_argument(
        "--optimizers",
        metavar="LIST",
        help=f"comma-separated, from {', '.join(OPTIMIZERS)} (all of them)",
    )
    command.add_argument(
        "--steps", type=int, metavar="N", help="steps per optimizer (the function's default)"
    )
    command.add_argument(
        "--lr",
        action="append",
        default=[],
        metavar="NAME=RATE",
        help="rate for one optimizer, e.g. adam=0.1 (σ for random_search); repeatable or "
        "comma-separated (the function's defaults)",
    )
    command.add_argument(
        "--start",
        metavar="X,Y",
        help="start point (the function's); write --start=-1.5,2 for a negative x",
    )
    command.add_argument(
        "--seed", type=int, default=0, metavar="S", help="random search's seed (0)"
    )
    command.add_argument(
        "--out",
        type=Path,
        default=Path("runs/playground"),
        metavar="DIR",
        help="folder for FUNCTION.png and FUNCTION.gif (runs/playground)",
    )
    command.add_argument("--gif", action="store_true", help="also write an animated GIF")
    command.add_argument("--json", action="store_true", help="print the results as JSON")
    command.set_defaults(run=_run)
