"""`steepest train` on real data: figures, files, grids and the Python API."""

import json
import math
from pathlib import Path

import pytest
import torch

import steepest
from steepest.cli import main
from steepest.config import expand_grid, validate
from steepest.errors import UserError
from steepest.report.runfiles import CORE_COLUMNS, DEAD_RELU
from steepest.training import make_member, member_labels, train, write_outputs

ROOT = Path(__file__).parent.parent


def experiment(tmp_path, **sections):
    raw = {
        "data": {"name": "digits"},
        "model": {"hidden": [32]},
        "train": {"epochs": 5, "out": str(tmp_path / "run")},
    }
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return raw


def printed(tmp_path, capsys, text: str) -> str:
    """What `steepest train` prints for an experiment file of `text`, having exited with
    status 0, its lines joined (rich wraps at the terminal's width)."""
    path = tmp_path / "exp.toml"
    path.write_text(text)
    assert main(["train", str(path)]) == 0
    return " ".join(capsys.readouterr().out.split())


def refused(tmp_path, capsys, text: str, *flags: str) -> str:
    """The one line `steepest train` prints for an experiment file of `text` (and
    `flags`), having exited with status 2."""
    path = tmp_path / "exp.toml"
    path.write_text(text)
    assert main(["train", str(path), "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err


def test_classification_on_wine_reaches_a_sensible_accuracy(tmp_path):
    raw = experiment(tmp_path, data={"name": "wine"}, train={"epochs": 30, "lr": 0.05})
    run = train(validate(raw))
    assert run.evaluate("test")["accuracy"] >= 0.9


def test_regression_on_diabetes_beats_predicting_the_mean_with_default_settings(tmp_path):
    """The targets (σ ≈ 77) are standardised, so [train]'s default lr does not diverge;
    RMSE is in the data's units: σ times the standardised targets'."""
    raw = experiment(tmp_path, data={"name": "diabetes"}, train={"loss": "mse"})
    run = train(validate(raw))
    assert run.dataset.target_scale == pytest.approx(77.4, abs=0.1)
    standardised_baseline = torch.sqrt((run.dataset.y_test**2).mean()).item()  # f = μ
    rmse = run.evaluate("test")["rmse"]
    assert rmse < 0.85 * standardised_baseline * run.dataset.target_scale
    summary = write_outputs(run)
    assert summary["test_rmse"] == rmse and summary["target_sd"] == run.dataset.target_scale


def test_run_writes_history_summary_checkpoint(tmp_path):
    run = train(validate(experiment(tmp_path)))
    out = tmp_path / "run"
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    # the columns the report reads, the searched lr, and the dead-ReLU fraction
    assert {*CORE_COLUMNS, "lr", DEAD_RELU} <= set(header)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] == pytest.approx(run.evaluate("test")["accuracy"])
    saved = torch.load(out / "best.pt", weights_only=False)
    model = run.model()
    model.load_state_dict(saved["state"])
    assert saved["preprocessor"] is not None


def test_dead_units_are_recorded_for_relu_networks_only(tmp_path):
    """A tanh unit below 0 for every example still passes gradient: 'dead ReLU' means
    nothing there, and the column is left out rather than counting negative units."""
    for activation, recorded in (("relu", True), ("tanh", False), ("leaky_relu", False)):
        raw = experiment(tmp_path, model={"hidden": [16], "activation": activation})
        run = train(validate({**raw, "train": {**raw["train"], "epochs": 1}}), write=False)
        assert (DEAD_RELU in run.history[0]) is recorded, activation


def test_grid_trains_every_member_side_by_side(tmp_path):
    raw = experiment(
        tmp_path, train={"lr": [0.1, 0.01], "optimizer": ["momentum", "adam"], "epochs": 3}
    )
    run = train(expand_grid(raw))
    assert len(run.results) == 4
    assert {r.member.tag for r in run.results} == {
        "optimizer=momentum lr=0.1",
        "optimizer=adam lr=0.1",
        "optimizer=momentum lr=0.01",
        "optimizer=adam lr=0.01",
    }
    assert all(len(r.history) == 3 for r in run.results)


def test_early_stopping_stops_a_stalled_member(tmp_path):
    raw = experiment(
        tmp_path, train={"lr": 1e-9, "epochs": 30, "patience": 2, "monitor": "val_loss"}
    )
    run = train(validate(raw))
    assert run.results[0].status == "early_stopped"
    assert len(run.results[0].history) < 30


def test_members_of_one_population_keep_their_own_patience(tmp_path):
    """patience = [2, 6] stops each member where it would stop alone (the losses agree
    to float rounding: a population of two multiplies in other blocks than one)."""
    raw = experiment(
        tmp_path,
        data={"name": "iris"},
        model={"hidden": [8]},
        train={"optimizer": "adam", "lr": 0.05, "epochs": 200, "monitor": "val_loss"},
    )
    together = train(expand_grid({**raw, "train": {**raw["train"], "patience": [2, 6]}}))
    for result in together.results:
        alone = train(
            validate({**raw, "train": {**raw["train"], "patience": result.member.patience}})
        )
        assert result.status == alone.results[0].status == "early_stopped"
        assert [row["val_loss"] for row in result.history] == pytest.approx(
            [row["val_loss"] for row in alone.results[0].history], rel=1e-4
        )
    stopped = sorted(len(r.history) for r in together.results)
    assert stopped[0] < stopped[1]


@pytest.mark.parametrize(
    ("key", "values"),
    [("monitor", ["val_metric", "val_loss"]), ("population", [1, 2]), ("device", ["cpu", "auto"])],
)
def test_a_run_key_given_as_a_list_is_refused(tmp_path, capsys, key, values):
    err = refused(
        tmp_path, capsys, f'[data]\nname = "iris"\n[train]\n{key} = {json.dumps(values)}\n'
    )
    assert f"[train] {key}: one value for the whole run" in err


def test_members_of_different_losses_are_not_compared_by_their_loss(tmp_path, capsys):
    """Under val_loss the best member would be whichever loss reads smallest (½r² or |r|),
    so a list of losses is refused there, as tune refuses a searched one; under
    val_metric the members compare by their metric and train."""
    losses = '[data]\nname = "iris"\n[model]\nhidden = [4]\n'
    losses += '[train]\nloss = ["cross_entropy", "hinge"]\n'
    err = refused(tmp_path, capsys, losses + 'monitor = "val_loss"\n')
    assert "monitor = 'val_loss' with members of loss cross_entropy, hinge" in err
    path = tmp_path / "by_metric.toml"
    path.write_text(losses + f"epochs = 1\nout = {json.dumps(str(tmp_path / 'run'))}\n")
    assert len(train(path, write=False).results) == 2


def test_a_run_of_no_experiment_or_of_two_data_sets_is_refused(tmp_path):
    with pytest.raises(UserError, match="no experiments to train"):
        train([])
    iris, wine = (validate(experiment(tmp_path, data={"name": n})) for n in ("iris", "wine"))
    with pytest.raises(UserError, match=r"\[data\]: one data set a run"):
        train([iris, wine])


def test_setting_a_key_to_its_default_is_another_run_to_resume(tmp_path):
    """rmsprop with momentum unset trains at torch's 0; `momentum = 0.9` written out is
    [train]'s default value but another run, which a checkpoint must not resume."""
    from steepest.training import run_fingerprint

    raw = experiment(tmp_path, train={"optimizer": "rmsprop"})
    unset = validate(raw)
    written = validate({**raw, "train": {**raw["train"], "momentum": 0.9}})
    assert unset.train.momentum == written.train.momentum
    assert run_fingerprint([unset]) != run_fingerprint([written])


def test_batch_norm_at_batch_size_one_is_refused(tmp_path, capsys):
    text = '[data]\nname = "iris"\n[model]\nbatch_norm = true\n[train]\nbatch_size = 1\n'
    err = refused(tmp_path, capsys, text)
    assert "[train] batch_size = 1: batch norm needs at least 2 examples" in err


def test_an_out_path_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "afile").write_text("keep me")
    text = '[data]\nname = "iris"\n'
    err = refused(tmp_path, capsys, text, "--out", str(tmp_path / "afile"))
    assert "afile' ([train] out or --out): a file, not a folder" in err
    assert (tmp_path / "afile").read_text() == "keep me"


def test_a_run_where_every_member_diverged_leaves_an_earlier_runs_files_alone(tmp_path, capsys):
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    out = tmp_path / "out"
    good.write_text(f'[data]\nname = "iris"\n[train]\nepochs = 2\nout = "{out}"\n')
    bad.write_text(
        f'[data]\nname = "diabetes"\n[train]\nloss = "mse"\nlr = 1e6\nepochs = 2\nout = "{out}"\n'
    )
    assert main(["train", str(good), "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["train", str(bad), "--quiet"]) == 2
    assert "every member diverged" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_run_without_a_test_split_saves_everything_but_test_figures(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(
        '[data]\nname = "iris"\ntest_fraction = 0.0\n'
        f'[train]\nepochs = 5\nout = "{tmp_path / "run"}"\n'
    )
    assert main(["train", str(path)]) == 0
    assert ", no test split" in capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best_val"] > 0.5 and not any(key.startswith("test_") for key in summary)
    assert (tmp_path / "run" / "best.pt").is_file()
    with pytest.raises(UserError, match="no test split"):
        train(path, write=False).evaluate("test")


def test_a_member_whose_loss_does_not_fit_is_refused_before_any_trains(tmp_path, capsys):
    text = '[data]\nname = "iris"\n[train]\nloss = ["cross_entropy", "mse"]\n'
    text += f'out = "{tmp_path / "o"}"\n'
    err = refused(tmp_path, capsys, text)
    assert "[train] loss = 'mse': a regression loss, but data set 'iris' is classification" in err
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_a_csv_of_numeric_labels_is_classes_when_the_loss_says_so(tmp_path, capsys):
    """0/1 labels under an explicit classification loss are two classes; under the
    default loss the error says which loss to set for either reading."""
    rows = [f"{i % 7},{i % 5},{int(i % 7 > i % 5)}" for i in range(140)]
    (tmp_path / "t.csv").write_text("a,b,y\n" + "\n".join(rows) + "\n")
    raw = experiment(tmp_path, data={"csv": str(tmp_path / "t.csv"), "target": "y"})
    del raw["data"]["name"]
    run = train(validate({**raw, "train": {**raw["train"], "loss": "cross_entropy"}}))
    assert run.dataset.class_names == ["0", "1"]
    with pytest.raises(UserError, match='the loss is the default: set .* loss = "mse", or'):
        train(validate(raw))


def test_optimizer_keys_left_unset_take_the_rules_own_defaults(tmp_path):
    """[train]'s momentum 0.9 and weight decay 0 are momentum's and SGD's; RMSProp keeps
    torch's momentum 0 and AdamW its weight decay 1e-2 unless the file sets them."""
    raw = experiment(tmp_path, data={"name": "iris"}, train={"epochs": 1})
    run = train(expand_grid({**raw, "train": {**raw["train"], "optimizer": ["rmsprop", "adamw"]}}))
    rmsprop, adamw = (r.history[0] for r in run.results)
    assert rmsprop["momentum"] == 0.0 and adamw["weight_decay"] == pytest.approx(1e-2)
    run = train(
        validate({**raw, "train": {**raw["train"], "optimizer": "rmsprop", "momentum": 0.5}})
    )
    assert run.results[0].history[0]["momentum"] == 0.5


def test_monitoring_val_loss_picks_the_member_of_least_loss(tmp_path, capsys):
    """A run monitoring val_loss keeps the member of lowest validation loss (it kept the
    highest, reading the loss as if it were the accuracy), says so and ranks by it."""
    from steepest.report.runfiles import read_run
    from steepest.report.table import results_table

    path = tmp_path / "exp.toml"
    path.write_text(
        '[data]\nname = "iris"\n[model]\nhidden = [8]\n'
        '[train]\nlr = [3.0, 0.1, 1e-4]\nepochs = 8\nmonitor = "val_loss"\n'
        f'out = "{tmp_path / "run"}"\n'
    )
    assert main(["train", str(path)]) == 0
    assert ", val loss 0." in capsys.readouterr().out
    run = read_run(tmp_path / "run")
    losses = {m: run.best_validation(m)[1] for m in run.history}
    assert run.summary["monitor"] == "val_loss" and run.best_member == min(losses, key=losses.get)
    assert run.summary["best_val"] == pytest.approx(min(losses.values()))
    assert run.ranked_members() == sorted(losses, key=losses.get)
    assert "sorted by validation loss (lower is better)" in str(
        results_table(tmp_path / "run").title
    )


def test_the_command_says_which_members_diverged(tmp_path, capsys):
    out = printed(
        tmp_path,
        capsys,
        f'[data]\nname = "iris"\n[train]\nlr = [0.05, 1e6]\nepochs = 3\nout = "{tmp_path / "o"}"\n',
    )
    assert "1 of 2 members diverged (a NaN or infinite loss; lr too high?): lr=1000000.0" in out
    assert "the best is from an epoch before it did" not in out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["diverged"] == ["lr=1000000.0"]


def test_a_best_member_that_diverged_later_is_said_to_be_so(tmp_path, capsys):
    """Finite at its first epoch, NaN after: best.pt is from before, which the line says."""
    out = printed(
        tmp_path,
        capsys,
        '[data]\nname = "diabetes"\n[model]\nhidden = [16]\n[train]\n'
        'optimizer = ["momentum", "lbfgs"]\nloss = "mse"\nlr = [1e4, 1e5]\n'
        f'batch_size = "full"\nepochs = 3\nout = "{tmp_path / "o"}"\n',
    )
    assert "4 of 4 members diverged" in out and "the best is from an epoch before it did" in out


def test_the_command_says_what_pca_kept(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(
        f'[data]\nname = "wine"\npca = 0.95\n[train]\nepochs = 1\nout = "{tmp_path / "o"}"\n'
    )
    assert main(["train", str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["pca_variance_kept"] >= 0.95
    kept = f"{summary['pca_variance_kept']:.1%}"
    assert (
        f"PCA: {summary['pca_components']} components keep {kept} of the training split's variance"
        in out
    )


def test_loss_that_does_not_fit_the_data_is_a_user_error(tmp_path, capsys):
    err = refused(tmp_path, capsys, '[data]\nname = "diabetes"\n[train]\nloss = "cross_entropy"\n')
    assert "a classification loss, but data set 'diabetes' is regression" in err


def test_cli_json_summary(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(
        f'[data]\nname = "iris"\n[model]\nhidden = [16]\n'
        f'[train]\nepochs = 3\nout = "{tmp_path / "out"}"\n'
    )
    assert main(["train", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["members"] == 1 and summary["metric"] == "accuracy"
    assert (tmp_path / "out" / "loss.png").is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for CUDA where there is none")
def test_device_flag_asking_for_a_missing_gpu_is_a_user_error(tmp_path, capsys):
    err = refused(
        tmp_path, capsys, '[data]\nname = "iris"\n[train]\nepochs = 1\n', "--device", "cuda"
    )
    assert "no CUDA device is available" in err


def test_device_flag_cpu_trains_on_the_cpu(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(f'[data]\nname = "iris"\n[train]\nepochs = 1\nout = "{tmp_path / "o"}"\n')
    assert main(["train", str(path), "--quiet", "--device", "cpu"]) == 0
    saved = torch.load(tmp_path / "o" / "best.pt", weights_only=False)
    assert saved["experiment"]["train"]["device"] == "cpu"
    assert all(t.device.type == "cpu" for t in saved["state"].values())


def test_the_readme_python_api(tmp_path):
    import steepest

    path = tmp_path / "exp.toml"
    path.write_text(
        f'[data]\nname = "iris"\n[model]\nhidden = [16]\n'
        f'[train]\nepochs = 20\nlr = 0.1\nout = "{tmp_path / "out"}"\n'
    )
    run = steepest.train(path)
    assert len(run.history) == 20 and {"epoch", "val_loss"} <= set(run.history[0])
    model = run.model()
    scores = model(run.dataset.x_test).argmax(1)
    accuracy = (scores == run.dataset.y_test).float().mean().item()
    assert accuracy == pytest.approx(run.evaluate("test")["accuracy"])
    opt = steepest.optim.Adam(model.parameters(), lr=1e-3)
    assert isinstance(opt, torch.optim.Optimizer)


def test_the_readmes_python_block_runs_as_written(tmp_path, monkeypatch):
    """The README's first Python block, executed as it stands (the example file it trains
    copied to a scratch folder and cut to 2 epochs; `x_raw` is raw digits)."""
    from steepest.data.builtin import load_builtin

    readme = (ROOT / "README.md").read_text()
    block = readme.split("### Python\n\n```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "examples").mkdir()
    example = (ROOT / "examples" / "digits.toml").read_text()
    (tmp_path / "examples" / "digits.toml").write_text(example.replace("= 20", "= 2"))
    monkeypatch.chdir(tmp_path)
    namespace = {"x_raw": load_builtin("digits").x[:5]}
    exec(block, namespace)
    assert namespace["model"].predict(namespace["x_raw"]).shape == (5,)
    assert isinstance(namespace["opt"], torch.optim.Optimizer)


def test_a_member_id_the_run_does_not_have_is_a_user_error(tmp_path):
    run = train(validate(experiment(tmp_path, train={"epochs": 1})), write=False)
    with pytest.raises(UserError, match=r"member_id = 7: no such member \(this run has \[0\]\)"):
        run.model(member_id=7)


def test_a_population_below_one_is_refused_before_training(tmp_path, capsys):
    text = f'[data]\nname = "iris"\n[train]\nepochs = 1\nout = "{tmp_path / "o"}"\n'
    err = refused(tmp_path, capsys, text, "--population", "0")
    assert err == "steepest: error: population = 0: expected at least 1 member, or 'auto'\n"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("line_search", ["none", "strong_wolfe"])
def test_full_batch_lbfgs_learns_digits(tmp_path, capsys, line_search):
    """`optimizer = "lbfgs"` with `batch_size = "full"`: the classic full-batch method,
    twenty iterations an epoch, through the command, with or without a line search."""
    path = tmp_path / "exp.toml"
    path.write_text(
        '[data]\nname = "digits"\n[model]\nhidden = [32]\n'
        '[train]\noptimizer = "lbfgs"\nlr = 1.0\nbatch_size = "full"\nepochs = 5\n'
        f'line_search = "{line_search}"\nout = "{tmp_path / "o"}"\n'
    )
    assert main(["train", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["test_accuracy"] > 0.93
    members = json.loads((tmp_path / "o" / "members.json").read_text())
    assert members[0]["hparams"]["line_search"] == float(line_search == "strong_wolfe")


def test_lbfgs_with_and_without_line_search_train_side_by_side(tmp_path):
    """A list of line searches is a grid like any other; each setting is its own
    population (the rule branches on it once for all its members)."""
    run = train(
        {
            "data": {"name": "iris"},
            "train": {
                "optimizer": "lbfgs",
                "lr": 1.0,
                "batch_size": "full",
                "epochs": 3,
                "line_search": ["none", "strong_wolfe"],
                "out": str(tmp_path),
            },
        },
        write=False,
    )
    assert [r.member.hparams["line_search"] for r in run.results] == [0.0, 1.0]
    assert all(r.best_value > 0.8 for r in run.results)


@pytest.mark.parametrize("name", ["iris", "diabetes", "digits_images"])
def test_a_float64_default_dtype_trains_in_float64(tmp_path, name):
    """A notebook that set torch.set_default_dtype(torch.float64) builds float64 networks;
    the data sets are float32, and go in as the network's dtype (augmented images too)."""
    loss = {"loss": "mse"} if name == "diabetes" else {}
    data = {"name": name}
    if name == "digits_images":
        data["augment"] = {"crop_padding": 1, "flip": True}
    raw = experiment(tmp_path, data=data, train={"epochs": 2, **loss})
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        run = train(validate(raw))
        assert next(run.model().parameters()).dtype == torch.float64
        figures = run.evaluate("test")
        predicted = steepest.load(tmp_path / "run" / "best.pt").predict(run.dataset.x_test)
    finally:
        torch.set_default_dtype(before)
    assert all(math.isfinite(v) for v in figures.values()) and len(predicted) > 0


def test_an_existing_folder_that_refuses_files_is_one_line_before_training(
    tmp_path, capsys, monkeypatch
):
    import tempfile

    def refuse(**_):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    text = f'[data]\nname = "iris"\n[train]\nepochs = 1\nout = "{tmp_path}"\n'
    err = refused(tmp_path, capsys, text)
    assert (
        f"out = '{tmp_path}' ([train] out or --out): cannot write there (Permission denied)" in err
    )


def test_resume_without_a_checkpoint_is_refused_before_any_progress(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(f'[data]\nname = "iris"\n[train]\nepochs = 1\nout = "{tmp_path / "o"}"\n')
    assert main(["train", str(path), "--resume"]) == 2
    assert capsys.readouterr().err == (
        f"steepest: error: --resume: no checkpoint.pt in {tmp_path / 'o'} (nothing to resume)\n"
    )


def test_an_interrupted_run_says_how_to_go_on(tmp_path, capsys, checkpoint_interrupts):
    checkpoint_interrupts.arm()
    path = tmp_path / "exp.toml"
    path.write_text(f'[data]\nname = "iris"\n[train]\nepochs = 3\nout = "{tmp_path / "o"}"\n')
    assert main(["train", str(path), "--quiet"]) == 130
    assert capsys.readouterr().err == (
        f"steepest: interrupted; {tmp_path / 'o' / 'checkpoint.pt'} holds the last finished "
        "epoch: add --resume to go on\n"
    )


def test_a_run_replacing_another_leaves_none_of_its_plots(tmp_path, capsys):
    """A ReLU run's dead_relu.png must not stay beside a tanh run's files."""
    out = tmp_path / "o"
    path = tmp_path / "exp.toml"
    for activation in ("relu", "tanh"):
        path.write_text(
            f'[data]\nname = "iris"\n[model]\nactivation = "{activation}"\n'
            f'[train]\nepochs = 2\nout = "{out}"\n'
        )
        assert main(["train", str(path), "--quiet"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["hparams.png", "loss.png", "metric.png"]


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_a_batch_norm_member_with_adam_trains_as_alone(tmp_path, optimizer):
    """The Linear before batch norm has no bias: its gradient was float rounding, which
    Adam and RMSProp turned into full steps, so a member drifted from its lone run."""
    raw = experiment(
        tmp_path,
        data={"name": "iris"},
        model={"hidden": [16], "batch_norm": True},
        train={"optimizer": optimizer, "lr": [0.04, 0.01], "epochs": 4},
    )
    together = train(expand_grid(raw), write=False)
    raw["train"]["lr"] = 0.04
    alone = train(validate(raw), write=False)
    mine = [row["val_loss"] for row in together.history if row["member"] == 0]
    assert mine == pytest.approx([row["val_loss"] for row in alone.history], rel=1e-6)
    assert "blocks.0.0.bias" not in alone.model().state_dict()


def test_a_run_that_writes_nothing_leaves_no_folder(tmp_path, monkeypatch):
    """train(..., write=False) in a notebook: its checkpoint folder goes with the
    checkpoint (make test left runs/experiment/ in the checkout)."""
    monkeypatch.chdir(tmp_path)
    train({"data": {"name": "iris"}, "train": {"epochs": 1}}, write=False)
    assert not (tmp_path / "runs").exists()
    (tmp_path / "mine").mkdir()  # a folder the user made stays
    train({"data": {"name": "iris"}, "train": {"epochs": 1, "out": "mine"}}, write=False)
    assert (tmp_path / "mine").is_dir()


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("kernel = 4", "[model] kernel = 4: expected an odd size"),
        ('activation = "maxout"', "[model] activation = 'maxout': only for kind = 'mlp'"),
        (
            "channels = [4, 4, 4, 4]",
            "[model] channels = [4, 4, 4, 4]: 4 2×2 poolings need images of at least 16 pixels "
            "a side, these have 8",
        ),
    ],
)
def test_a_cnn_the_images_cannot_take_is_one_line_naming_its_key(tmp_path, capsys, model, message):
    path = tmp_path / "cnn.toml"
    path.write_text(f'[data]\nname = "digits_images"\n[model]\nkind = "cnn"\n{model}\n')
    assert main(["train", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_csv_that_cannot_be_read_is_one_line(tmp_path, capsys):
    (tmp_path / "table.csv").mkdir()  # a folder where the table should be
    path = tmp_path / "exp.toml"
    path.write_text('[data]\ncsv = "table.csv"\ntarget = "y"\n[train]\nloss = "mse"\n')
    assert main(["train", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "table.csv': a folder, not a CSV file" in err and err.count("\n") == 1


def test_a_scheduled_hyperparameter_is_recorded_in_the_history():
    """rho is not among the columns always written; scheduled, its values are."""
    schedule = {"rho": {"kind": "linear", "start": 0.5, "end": 0.9, "epochs": 2}}
    experiment = validate(
        {
            "data": {"name": "iris"},
            "train": {"optimizer": "rmsprop", "epochs": 3, "schedule": schedule},
        }
    )
    run = train([experiment], write=False)
    assert [row["rho"] for row in run.history] == pytest.approx([0.5, 0.7, 0.9])
    assert "beta2" not in run.history[0]


def test_a_network_too_big_for_the_memory_is_one_line_before_training(
    tmp_path, capsys, monkeypatch
):
    """hidden = [100000000] was killed by the kernel without a word (--population too)."""
    from steepest import capacity

    monkeypatch.setattr(capacity, "memory_budget", lambda device, fraction=0.5: 2**20)
    path = tmp_path / "exp.toml"
    path.write_text('[data]\nname = "iris"\n[model]\nhidden = [4096]\n')
    for extra in ([], ["--population", "1"], ["--population", "auto"]):
        assert main(["train", str(path), "--quiet", *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("steepest: error: model: 32,771 parameters; a member needs")
        assert err.endswith("and 1.0 MiB is free: a smaller network or batch_size\n")


def test_a_grid_members_hyperparameters_are_those_its_optimizer_reads(tmp_path):
    raw = {"data": {"name": "iris"}, "train": {"optimizer": ["sgd", "momentum"], "momentum": 0.5}}
    sgd, momentum = [make_member(e, i) for i, e in enumerate(expand_grid(raw))]
    assert "momentum" not in sgd.hparams and momentum.hparams["momentum"] == 0.5


def test_a_members_label_names_only_keys_its_optimizer_reads():
    raw = {
        "data": {"name": "iris"},
        "train": {"optimizer": ["sgd", "momentum"], "momentum": [0.5, 0.9]},
    }
    labels = member_labels(expand_grid(raw))
    assert labels == [
        "optimizer=sgd",
        "optimizer=sgd",
        "optimizer=momentum momentum=0.5",
        "optimizer=momentum momentum=0.9",
    ]
