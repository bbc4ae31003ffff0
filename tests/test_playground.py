"""The optimizer playground: each rule's path inside the population is torch.optim's path,
members stay independent, the default rates make progress, and the command writes plots."""

import json

import pytest
import torch
from PIL import Image

from steepest import playground as pg
from steepest.cli import main
from steepest.optim import RULES

from .optim.cases import CASES, IDS

STEPS = 50
F64 = torch.float64


@pytest.fixture(scope="module")
def short_runs() -> dict[str, dict[str, pg.Trajectory]]:
    """Every gradient rule for 50 steps from each function's start, one population each."""
    return {
        name: {t.optimizer: t for t in pg.run_playground(name, list(RULES), steps=STEPS)}
        for name in pg.LANDSCAPES
    }


@pytest.fixture(scope="module")
def default_runs() -> dict[str, dict[str, pg.Trajectory]]:
    """Every optimizer with the function's default rates, steps and start."""
    return {
        name: {t.optimizer: t for t in pg.run_playground(name, pg.OPTIMIZERS)}
        for name in pg.LANDSCAPES
    }


def torch_path(case, landscape: pg.Landscape, lr: float, steps: int) -> torch.Tensor:
    """torch.optim's path [steps+1, 2] on f from the landscape's start, same rate."""
    w = torch.nn.Parameter(torch.tensor(landscape.start, dtype=F64))
    optimizer = case.torch_class([w], **case.torch_kwargs({**case.module.DEFAULTS, "lr": lr}))
    points = [w.detach().clone()]
    for _ in range(steps):
        optimizer.zero_grad()
        landscape(w).backward()
        optimizer.step()
        points.append(w.detach().clone())
    return torch.stack(points)


@pytest.mark.parametrize("function", list(pg.LANDSCAPES))
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_path_in_population_equals_torch_optim(case, function, short_runs):
    ours = short_runs[function][case.rule]
    theirs = torch_path(case, pg.LANDSCAPES[function], ours.lr, STEPS)
    assert ours.points.dtype == F64 and ours.points.shape == (STEPS + 1, 2)
    torch.testing.assert_close(ours.points, theirs, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ours.values, pg.LANDSCAPES[function](theirs), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("rule", list(RULES))
def test_member_alone_moves_as_in_the_population(rule, short_runs):
    alone = pg.run_playground("beale", [rule], steps=STEPS)[0]
    torch.testing.assert_close(alone.points, short_runs["beale"][rule].points, rtol=0, atol=1e-12)


def test_diverging_member_leaves_the_others_alone(short_runs):
    """sgd at lr 1 overflows on Rosenbrock within a few steps; listed in another order,
    the other members still follow their own paths."""
    others = ["adam", "momentum", "rmsprop"]
    runs = pg.run_playground("rosenbrock", ["sgd", *others], steps=STEPS, lrs={"sgd": 1.0})
    assert [t.optimizer for t in runs] == ["sgd", *others]
    assert not torch.isfinite(runs[0].values[-1])
    for t in runs[1:]:
        expected = short_runs["rosenbrock"][t.optimizer].points
        torch.testing.assert_close(t.points, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("function", ["rosenbrock", "beale", "quadratic"])
def test_every_default_rate_makes_progress(function, default_runs):
    """f falls at least 4× and the distance to the minimum by at least a quarter."""
    landscape = pg.LANDSCAPES[function]
    star = torch.tensor(landscape.minimum, dtype=F64)
    for name, t in default_runs[function].items():
        assert t.values[-1] < t.values[0] / 4, name
        assert (t.points[-1] - star).norm() < 0.75 * (t.points[0] - star).norm(), name


def test_saddle_plain_steps_linger_adaptive_ones_escape(default_runs):
    """From 10⁻³ off the ridge, sgd and momentum slide to the saddle point and are still
    near it halfway; the adaptive rules rescale the tiny y-gradient and are far below."""
    runs = default_runs["saddle"]
    half = pg.LANDSCAPES["saddle"].steps // 2
    for name in ("sgd", "momentum", "nesterov"):
        assert runs[name].points[half].norm() < 0.1, name
    for name in ("adagrad", "rmsprop", "adam", "adamw"):
        assert runs[name].values[-1] < -1, name
    for name, t in runs.items():
        assert t.values[-1] < -0.1, name


def test_adam_reaches_rosenbrocks_minimum(default_runs):
    adam = default_runs["rosenbrock"]["adam"]
    assert (adam.points[-1] - torch.tensor([1.0, 1.0], dtype=F64)).norm() < 0.1
    assert adam.values[-1] < 1e-3 < adam.values[0]


def test_sgd_on_the_quadratic_follows_the_closed_form(default_runs):
    """f = ½(x² + 50y²): each coordinate shrinks geometrically, x_t = (1 − α)ᵗx₀ and
    y_t = (1 − 50α)ᵗy₀; every gradient rule gets f below 10⁻⁴ in the default steps."""
    runs = default_runs["quadratic"]
    sgd = runs["sgd"]
    t = torch.arange(len(sgd.points), dtype=F64)
    x0, y0 = pg.LANDSCAPES["quadratic"].start
    expected = torch.stack([(1 - sgd.lr) ** t * x0, (1 - 50 * sgd.lr) ** t * y0], 1)
    torch.testing.assert_close(sgd.points, expected, rtol=1e-9, atol=1e-12)
    for name in RULES:
        assert runs[name].values[-1] < 1e-4, name


def test_random_search_never_increases_f(default_runs):
    for function, runs in default_runs.items():
        values = runs[pg.RANDOM_SEARCH].values
        assert (values.diff() <= 0).all(), function
        assert values[-1] < values[0], function


def test_random_search_follows_its_seed():
    def path(seed):
        return pg.run_playground("beale", [pg.RANDOM_SEARCH], steps=30, seed=seed)[0].points

    assert torch.equal(path(1), path(1))
    assert not torch.equal(path(1), path(2))


def test_command_writes_png_and_gif(tmp_path, capsys):
    argv = ["playground", "quadratic", "--optimizers", "sgd,adam,random_search"]
    argv += ["--steps", "30", "--lr", "adam=0.2", "--start=-3,1", "--out", str(tmp_path), "--gif"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    png, gif = tmp_path / "quadratic.png", tmp_path / "quadratic.gif"
    assert str(png) in out and str(gif) in out
    assert "adam" in out and "0.2" in out and "random_search" in out
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 1000
    with Image.open(gif) as image:
        assert image.format == "GIF" and image.n_frames == 31  # steps 0, 1, …, 30
    assert gif.stat().st_size < 500_000


def test_command_json_matches_the_api(tmp_path, capsys):
    argv = ["playground", "beale", "--optimizers", "adam,sgd", "--steps", "20"]
    argv += ["--lr", "sgd=0.002", "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    expected = pg.run_playground("beale", ["adam", "sgd"], steps=20, lrs={"sgd": 0.002})
    assert [row["optimizer"] for row in result["optimizers"]] == ["adam", "sgd"]
    assert result["optimizers"][1]["lr"] == 0.002
    for row, t in zip(result["optimizers"], expected, strict=True):
        assert row["final_f"] == pytest.approx(t.values[-1].item(), rel=1e-12)
        assert row["final_point"] == pytest.approx(t.points[-1].tolist(), rel=1e-12)
    assert result["files"] == [str(tmp_path / "beale.png")]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["himmelblau"], "function = 'himmelblau'"),
        (["--optimizers", "sgd,lion"], "optimizer = 'lion'"),
        (["--optimizers", "adam,adam"], "'adam' is listed twice"),
        (["--lr", "adam:0.1"], "--lr 'adam:0.1'"),
        (["--lr", "adam=fast"], "--lr 'adam=fast'"),
        (["--lr", "adam=-0.1"], "lr adam=-0.1"),
        (["--optimizers", "sgd", "--lr", "adam=0.1"], "'adam' is not among"),
        (["--start", "1"], "--start '1'"),
        (["--start=1,inf"], "start = (1.0, inf)"),
        (["--steps", "0"], "steps = 0"),
        (["--steps", "100000000"], "steps = 100000000: expected 1 to 1,000,000"),
        (["--lr", "sgd=1e-3,sgd=0.1"], "--lr sgd: given twice (0.001 and 0.1)"),
        (["--lr", "adam=0.1", "--lr", "adam=0.1"], "--lr adam: given twice"),
    ],
)
def test_bad_input_is_one_line_and_status_2(args, names, tmp_path, capsys):
    assert main(["playground", *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("steepest: error: ") and names in err
    assert not (tmp_path / "out").exists()


def test_an_out_that_cannot_be_a_folder_is_refused_before_anything_runs(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(pg, "run_playground", lambda *args: pytest.fail("ran the optimizers"))
    afile = tmp_path / "afile"
    afile.write_text("kept")
    for out, says in [
        (afile, "is a file; expected a folder"),
        (afile / "sub", "cannot write there (Not a directory)"),
        ("/proc/nope", "cannot write there ("),
    ]:
        assert main(["playground", "quadratic", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"steepest: error: --out {out}: {says}" in err
    assert afile.read_text() == "kept"


def test_a_path_running_off_to_minus_infinity_leaves_the_others_readable():
    """On the saddle L-BFGS runs off towards −∞ (f ≈ −8e4 in 100 steps): a linear f axis
    would squash every other path onto 0; the axis turns symmetric-log, linear within
    ±|f(start)|. A run that stays near its start keeps a linear axis."""
    import matplotlib.pyplot as plt

    runaway = pg.run_playground("saddle", ["sgd", "lbfgs"])
    assert runaway[1].values.min() < -1e3 * abs(runaway[0].values[0])
    tame = pg.run_playground("saddle", ["sgd"])  # 1 down to −0.75
    for trajectories, scale in ((runaway, "symlog"), (tame, "linear")):
        fig, ax = plt.subplots()
        pg._draw_values(ax, trajectories, ["C0", "C1"][: len(trajectories)])
        assert ax.get_yscale() == scale
        plt.close(fig)


def test_one_optimizer_may_be_named_as_a_string():
    """Not split into its letters ("optimizer = 's'")."""
    (trajectory,) = pg.run_playground("beale", "sgd", steps=3)
    assert trajectory.optimizer == "sgd"


def test_symlog_ticks_keep_out_of_the_linear_region_but_zero():
    from steepest.playground import _symlog_ticks

    ticks = list(_symlog_ticks(0.999999, -1e5, 0.999999).locs)
    assert ticks == [-1e5, -1e4, -1e3, -1e2, -1e1, -1.0, 0.0]  # no ±0.1 beside 0
    many = list(_symlog_ticks(1.0, -1e27, 1e3).locs)
    assert 0.0 in many and 1e3 in many and len([t for t in many if t < 0]) <= 8
