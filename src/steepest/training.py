"""`steepest train`: experiments → members → populations → history, checkpoint, plots.

A file whose values are all scalars trains one member; lists of values (``lr = [0.1,
0.01]``) train the grid side by side. Members that share a structure (architecture,
batch size, loss) share a population; each structure gets its own.
"""

import contextlib
import csv
import json
import numbers
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin

from steepest.capacity import choose_capacity, largest_fitting, refuse_beyond_memory
from steepest.config import (
    ONE_EXAMPLE_BATCHES,
    RUN_KEYS,
    Experiment,
    expand_grid,
    load_experiments,
    unread,
)
from steepest.data import Dataset, load_dataset
from steepest.data.preprocess import Preprocessor
from steepest.errors import UserError, first_line
from steepest.fit import (
    EpochCallback,
    MemberList,
    MemberResult,
    Monitor,
    PopulationTrainer,
    fit,
)
from steepest.nn.dropout import DROPOUTS, replace_torch_dropout
from steepest.nn.init import initialize_
from steepest.nn.layers import build_model
from steepest.nn.losses import LOSSES, make_loss
from steepest.nn.metrics import Metric, metric_for
from steepest.nn.regularizers import STRENGTH_DEFAULTS
from steepest.nn.user import network_factory, network_from
from steepest.optim import RULES
from steepest.optim.schedules import build as build_schedule
from steepest.population import Member, Population, as_input, build_aside, normalizes_batches
from steepest.progress import EpochProgress

HPARAM_KEYS = ("lr", "momentum", "weight_decay", "beta1", "beta2", "rho", "eps")
PENALTY_KEYS = tuple(STRENGTH_DEFAULTS)

# A user's own network instead of [model]'s: a function returning a fresh, initialised
# nn.Module (a population calls it once per member, torch's RNG seeded by the member's seed).
NetworkFactory = Callable[[], nn.Module]


def resolve_device(name: str) -> torch.device:
    """`auto` → CUDA when available, else CPU; `cuda` without a GPU is a user error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("[train] device = 'cuda': no CUDA device is available (use auto or cpu)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def structure_key(experiment: Experiment) -> str:
    """What changes tensor shapes, the forward graph or the batch transform: members
    differing here cannot share a population. Dropout's rate is per member; only its
    presence is structure. Augmentation is one setting per population (searched in
    ``[data.augment]``, each setting gets its own), and so is L-BFGS's line search."""
    model = experiment.model.model_dump(mode="json", exclude={"dropout"})
    t = experiment.train
    augment = experiment.data.augment.model_dump(mode="json")
    return json.dumps(
        [
            model,
            experiment.model.dropout > 0,
            t.batch_size,
            t.loss,
            t.huber_delta,
            augment,
            t.line_search,
        ],
        sort_keys=True,
    )


def make_member(
    experiment: Experiment, member_id: int, label: str = "", user_network: bool = False
) -> Member:
    """The member an experiment describes: seed, optimizer, hyperparameters, schedules.
    With `user_network` (a user's network), the dropout rate is the network's own unless
    ``[model] dropout`` is set."""
    t = experiment.train
    # lr always (steepest's 0.05 serves every rule); the other optimizer keys only when
    # set, so that each rule keeps torch's own defaults where [train]'s differ (RMSProp's
    # momentum 0 and AdamW's weight decay 1e-2, not momentum 0.9 and weight decay 0).
    given = {"lr", *PENALTY_KEYS, *t.model_fields_set}
    # a grid's key that this member's rule does not read (momentum beside its sgd) is
    # not its hyperparameter: members.json would show a momentum plain SGD never had
    reads = {*RULES[t.optimizer].DEFAULTS, *PENALTY_KEYS}
    keys = [k for k in HPARAM_KEYS + PENALTY_KEYS if k in given and k in reads]
    hparams = {k: getattr(t, k) for k in keys if getattr(t, k) is not None}
    user_network = user_network or experiment.model.module is not None
    if t.optimizer == "lbfgs":
        hparams["line_search"] = float(t.line_search == "strong_wolfe")
    if not user_network or "dropout" in experiment.model.model_fields_set:
        hparams["dropout"] = experiment.model.dropout
    return Member(
        id=member_id,
        seed=t.seed,
        optimizer=t.optimizer,
        hparams=hparams,
        epochs=t.epochs,
        schedules={name: build_schedule(spec, t.epochs) for name, spec in t.schedule.items()},
        patience=t.patience,
        tag=label,
    )


@dataclass
class Task:
    """What the data set and loss imply: output size, loss, metric and its direction."""

    loss: Callable[[Tensor, Tensor], Tensor]
    loss_each: Callable[[Tensor, Tensor], Tensor]
    metric: Metric
    out_features: int

    @property
    def metric_name(self) -> str:
        return self.metric.name

    @property
    def maximize(self) -> bool:
        return self.metric.maximize


def load_for(experiment: Experiment) -> Dataset:
    """The experiment's data, read as its loss asks: a CSV's numeric target (0/1, digits
    0–9) is classes when ``[train] loss`` is set to a classification loss. Under the
    default loss it stays numbers, and `task_for` asks which was meant: a forgotten
    ``loss = "mse"`` would otherwise make every distinct price or count a class."""
    chosen = "loss" in experiment.train.model_fields_set
    return load_dataset(experiment.data, LOSSES[experiment.train.loss].task if chosen else None)


def task_for(experiment: Experiment, dataset: Dataset) -> Task:
    """Check the loss fits the data set and derive the output layer and metric."""
    spec = LOSSES[experiment.train.loss]
    if spec.task != dataset.task:
        hint = ""
        if "loss" not in experiment.train.model_fields_set:  # numbers under the default loss
            hint = '; the loss is the default: set a regression loss such as loss = "mse"'
            if experiment.data.csv is not None:
                hint += f', or loss = "{experiment.train.loss}" to read the numbers as classes'
        raise UserError(
            f"[train] loss = {experiment.train.loss!r}: a {spec.task} loss, but data set "
            f"{dataset.name!r} is {dataset.task}{hint}"
        )
    if dataset.task == "classification":
        targets = len(dataset.class_names or [])
    else:
        targets = 1 if dataset.y_train.dim() == 1 else dataset.y_train.shape[1]
    delta = experiment.train.huber_delta
    return Task(
        loss=make_loss(experiment.train.loss, delta),
        loss_each=make_loss(experiment.train.loss, delta, per_example=True),
        metric=metric_for(dataset.task).in_units(dataset.target_scale),
        out_features=spec.outputs(targets),
    )


def model_factory(
    experiment: Experiment,
    dataset: Dataset,
    out_features: int,
    dropout: bool,
    network: NetworkFactory | None = None,
) -> NetworkFactory:
    """A function building one freshly initialised network (the population seeds it):
    ``[model]``'s, or the user's `network` with its torch.nn.Dropout layers made
    steepest's keyed dropout of the same rate (torch's draw from one global generator,
    which cannot give each member the masks it would draw alone)."""
    network = network or own_network(experiment)
    if network is not None:
        return lambda: replace_torch_dropout(network())

    def make() -> nn.Module:
        module = build_model(experiment.model, dataset.input_shape, out_features, dropout)
        initialize_(module, experiment.model.init)
        return module

    return make


def own_network(experiment: Experiment) -> NetworkFactory | None:
    """The network ``[model] module`` names, if it names one."""
    module = experiment.model.module
    return None if module is None else network_from(module)


def check_network(
    network: NetworkFactory,
    experiment: Experiment,
    dataset: Dataset,
    task: Task,
    alone: bool = False,
    dropout_searched: bool = False,
) -> None:
    """A one-line error, before anything trains, for a user's network that fails on two
    of the data set's examples, whose output is not [2, outputs], or that cannot take a
    training step as a population of two (vmap over members), unless members train
    `alone` (a population of one runs the module as it is), or that has no nn.Dropout for
    a dropout rate the file sets or (`dropout_searched`) a study searches."""
    shape = tuple(dataset.x_train.shape[1:])
    with torch.random.fork_rng(devices=[]):
        try:
            module = network()
        except Exception as error:  # the user's code: whatever fails is their input's
            raise UserError(f"model: building your network failed: {first_line(error)}") from None
        if not isinstance(module, nn.Module):
            raise UserError(
                f"model: your network function returned a {type(module).__name__}, not an nn.Module"
            )
        lazy = [type(m).__name__ for m in module.modules() if isinstance(m, LazyModuleMixin)]
        if lazy:  # members are stacked by their parameters' shapes, which these lack
            raise UserError(
                f"model: your network has lazy layers ({', '.join(sorted(set(lazy)))}), "
                "whose shapes a population cannot stack; give their input sizes"
            )
        dtype = next(module.parameters(), torch.empty(0)).dtype
        try:
            with torch.no_grad():
                output = module.eval()(as_input(dataset.x_train[:2], dtype))
        except Exception as error:
            raise UserError(
                f"model: your network fails on 2 examples of shape {shape}: {first_line(error)}"
            ) from None
        if experiment.train.batch_size == 1 and normalizes_batches(module):
            raise UserError(ONE_EXAMPLE_BATCHES)
        has_dropout = any(isinstance(m, DROPOUTS) for m in module.modules())
        dropout_set = "dropout" in experiment.model.model_fields_set or dropout_searched
        if dropout_set and not has_dropout:
            raise UserError("[model] dropout: your network has no nn.Dropout layer for it to set")
        expected = (2, task.out_features)
        if not isinstance(output, Tensor) or tuple(output.shape) != expected:
            got = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise UserError(
                f"model: your network's output for 2 examples is {got}; "
                f"{dataset.name} with loss {experiment.train.loss!r} needs {expected}"
            )
        if alone:
            return
        pair = build_population(experiment, dataset, task, torch.device("cpu"), network)
        pair.add([make_member(experiment, -1 - i, user_network=True) for i in range(2)])
        try:
            pair.begin_epoch()
            pair.step()
        except Exception as error:
            raise UserError(
                f"model: your network cannot run as a population (torch.func.vmap: "
                f"{first_line(error)}); train it with population = 1"
            ) from None


def refuse_model_keys(experiment: Experiment) -> None:
    """Keys of ``[model]`` beside a network passed as model=, which replaces it: refused,
    as beside ``[model] module`` (`ModelConfig`), not silently ignored; dropout alone
    still applies (to the network's torch.nn.Dropout layers)."""
    unused = sorted(experiment.model.model_fields_set - {"dropout"})
    if unused:
        raise UserError(
            f"[model] {', '.join(unused)}: not used with your own network (model=); "
            "only dropout applies to it"
        )


def _one_per_network(
    experiments: list[Experiment], model: NetworkFactory | None
) -> list[Experiment]:
    """One experiment for each user network the run trains (`model`, or each distinct
    ``[model] module``), to check before training."""
    if model is not None:
        return experiments[:1]
    firsts = {e.model.module: e for e in reversed(experiments) if e.model.module is not None}
    return list(firsts.values())


def build_population(
    experiment: Experiment,
    dataset: Dataset,
    task: Task,
    device: torch.device,
    network: NetworkFactory | None = None,
) -> Population:
    """An empty population for experiments of `experiment`'s structure (of the user's
    `network`, if given)."""
    augment = None
    settings = experiment.data.augment
    if len(dataset.input_shape) == 3 and settings != type(settings)():
        from steepest.data.augment import augment as augment_batch  # images only

        scaling = dataset.preprocessor

        def augment(x: Tensor, keys: Tensor) -> Tensor:
            """Augmented in pixel units, where the strengths are stated (padding black,
            brightness ±b of the [0, 1] range in every channel alike); the batch arrives
            preprocessed and leaves so."""
            pixels = augment_batch(scaling.inverse(x), keys, settings)
            return scaling.transform(pixels).to(x.dtype)  # a float64 network's too

    make = model_factory(
        experiment, dataset, task.out_features, experiment.model.dropout > 0, network
    )
    batch = experiment.train.batch_size
    return Population(
        make,
        task.loss_each,
        task.metric.each,
        dataset.x_train,
        dataset.y_train,
        len(dataset.x_train) if batch == "full" else batch,
        device=device,
        augment=augment,
        metric_finish=task.metric.finish,
    )


def member_labels(experiments: list[Experiment]) -> list[str]:
    """Short labels naming only the values that differ between experiments."""
    dumps = [e.model_dump(mode="json") for e in experiments]
    varying = [
        (section, key)
        for section in ("model", "train")
        for key in dumps[0][section]
        if any(d[section][key] != dumps[0][section][key] for d in dumps)
    ]
    if not varying:
        return ["run"] * len(experiments)
    return [
        " ".join(
            f"{key}={d[section][key]}"
            for section, key in varying
            if unread(section, key, [getattr(e, section)]) is None  # sgd's momentum: none
        )
        for e, d in zip(experiments, dumps, strict=True)
    ]


@dataclass
class Run:
    """A finished `steepest train`: every member's result and the data it trained on."""

    experiments: list[Experiment]
    dataset: Dataset
    results: list[MemberResult]
    metric_name: str
    maximize: bool  # the metric's direction
    monitor: Monitor  # the column each member's best epoch, and the best member, go by
    out: Path
    device: torch.device
    network: NetworkFactory | None = None  # the user's own, if it replaced [model]

    @property
    def best(self) -> MemberResult:
        """The member whose best value of the monitored column is best."""
        scored = [r for r in self.results if r.best_value is not None]
        if not scored:
            raise UserError("every member diverged: no checkpoint to evaluate (lower lr?)")
        pick = max if self.monitor.maximize else min
        return pick(scored, key=lambda r: r.best_value)

    @property
    def history(self) -> list[dict[str, Any]]:
        """All members' epoch rows, in member order."""
        return [row for r in self.results for row in r.history]

    def model(self, member_id: int | None = None) -> nn.Module:
        """A standalone network holding a member's best weights (default: the best member)."""
        result = self.best if member_id is None else self._result(member_id)
        experiment = self.experiments[result.member.id]
        task = task_for(experiment, self.dataset)
        module = build_aside(
            model_factory(
                experiment,
                self.dataset,
                task.out_features,
                experiment.model.dropout > 0,
                self.network,
            )
        ).to(self.device)
        module.load_state_dict(result.best_state)
        return module.eval()

    @torch.no_grad()
    def evaluate(self, split: str = "test", member_id: int | None = None) -> dict[str, float]:
        """Loss and metric of a member's best checkpoint on `train`, `val` or `test`."""
        if split not in ("train", "val", "test"):
            raise UserError(f"split = {split!r}: expected 'train', 'val' or 'test'")
        if split == "test" and not self.dataset.has_test:
            raise UserError("split = 'test': this run has no test split (test_fraction = 0)")
        result = self.best if member_id is None else self._result(member_id)
        task = task_for(self.experiments[result.member.id], self.dataset)
        model = self.model(result.member.id)
        x = getattr(self.dataset, f"x_{split}")
        x = as_input(x, next(model.parameters()).dtype).to(self.device)
        y = getattr(self.dataset, f"y_{split}").to(self.device)
        output = model(x)
        return {
            "loss": float(task.loss(output, y)),
            self.metric_name: float(task.metric.fn(output, y)),
        }

    def _result(self, member_id: int) -> MemberResult:
        for result in self.results:
            if result.member.id == member_id:
                return result
        ids = sorted(r.member.id for r in self.results)
        raise UserError(f"member_id = {member_id!r}: no such member (this run has {ids})")


def train(
    experiments: str | Path | Experiment | dict | list[Experiment],
    population: int | str | None = None,
    console: Console | None = None,
    write: bool = True,
    resume: bool = False,
    model: NetworkFactory | None = None,
) -> Run:
    """Train every member an experiment file (or objects) describes; see module docstring.

    `population` caps how many members train at once, or is ``"auto"`` (default: the
    file's ``[train] population``, where ``auto`` measures the smallest K within 10 % of the
    best throughput, `capacity.choose_capacity`).
    With a `console`, a progress bar shows each epoch. With `write`, the run's files
    (`write_outputs`) land in ``[train] out``. With `resume`, training continues from the
    checkpoint a killed run left there.

    `model` trains your own network instead of ``[model]``'s: a function returning a
    fresh, initialised nn.Module (called once per member, torch's RNG seeded by the
    member's seed) whose output for a batch [B, …] of the data set's examples is
    [B, outputs] (classes for cross_entropy and hinge, 1 for logistic and a single
    regression target). Its torch.nn.Dropout layers keep their rates unless ``[model]
    dropout`` sets one.
    """
    population = _population_setting(population)
    model = network_factory(model)
    experiments = _as_experiments(experiments)
    if model is not None:
        refuse_model_keys(experiments[0])
    _one_value_per_run(experiments)
    first = experiments[0]
    made = [p for p in (first.train.out, *first.train.out.parents) if not p.exists()]
    _make_out(first.train.out)
    try:
        dataset = load_for(first)
        device = resolve_device(first.train.device)
        task = task_for(first, dataset)
        for experiment in experiments[1:]:  # each member's loss must fit before any trains
            task_for(experiment, dataset)
        setting = population or first.train.population
        for experiment in _one_per_network(experiments, model):
            check_network(
                model or own_network(experiment),
                experiment,
                dataset,
                task,
                alone=len(experiments) == 1 or setting == 1,
            )
        fingerprint = (run_fingerprint(experiments), dataset.fingerprint)
        saved = _load_checkpoint(first.train.out, fingerprint) if resume else None
        total_epochs = sum(e.train.epochs for e in experiments)
        progress = EpochProgress(
            total_epochs, len(experiments), task.metric_name, task.maximize, console
        )
        with progress:
            results = _train_groups(
                experiments,
                dataset,
                device,
                setting,
                progress,
                first.train.out,
                fingerprint,
                saved,
                model,
            )
        run = Run(
            experiments,
            dataset,
            results,
            task.metric_name,
            task.maximize,
            monitor_for(first, task),
            first.train.out,
            device,
            model,
        )
        if write:
            write_outputs(run)
    finally:
        if not write:  # nothing was written, the checkpoint is gone, or the run failed:
            _remove_empty(made)  # leave no folder behind (a notebook's runs/experiment/)
    return run


def _one_value_per_run(experiments: list[Experiment]) -> None:
    """Refuse a run key (`RUN_KEYS`) that differs between members: the run has one best
    member by one column, one population setting, one device and one folder, so a list
    there would silently take the first member's value. So is a run with no member, or
    with members of different [data] (a run reads one data set), or members of different
    losses under `val_loss` (an L1 loss and a squared loss do not compare: the best
    member would be the one whose loss reads smallest; `steepest tune` refuses the same)."""
    if not experiments:
        raise UserError("no experiments to train")
    if any(e.data != experiments[0].data for e in experiments):
        raise UserError("[data]: one data set a run; these experiments read different ones")
    for key in RUN_KEYS:
        values = sorted({str(getattr(e.train, key)) for e in experiments})
        if len(values) > 1:
            raise UserError(
                f"[train] {key}: one value for the whole run, not one per member "
                f"(got {', '.join(values)})"
            )
    losses = list(dict.fromkeys(e.train.loss for e in experiments))
    if experiments[0].train.monitor == "val_loss" and len(losses) > 1:
        raise UserError(
            f"[train] monitor = 'val_loss' with members of loss {', '.join(losses)}: their "
            "values do not compare; monitor val_metric, or compare one loss"
        )


def _make_out(out: Path) -> None:
    """Create the run's folder before anything trains: a path that is a file, or one that
    cannot be created, is the user's to fix, not a traceback after the first epoch."""
    if out.exists() and not out.is_dir():
        raise UserError(f"out = {str(out)!r} ([train] out or --out): a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"out = {str(out)!r} ([train] out or --out): cannot create it ({error.strerror})"
        ) from None
    try:  # an existing folder may still refuse files (permissions, a read-only mount)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as error:
        raise UserError(
            f"out = {str(out)!r} ([train] out or --out): cannot write there ({error.strerror})"
        ) from None


CHECKPOINT = "checkpoint.pt"


def _train_groups(
    experiments: list[Experiment],
    dataset: Dataset,
    device: torch.device,
    setting: int | str,
    on_epoch: EpochCallback,
    out: Path,
    fingerprint: tuple[str, str],
    saved: dict[str, Any] | None,
    network: NetworkFactory | None,
) -> list[MemberResult]:
    """One population per structure key, trained one after the other. After every epoch
    the whole state goes to ``out/checkpoint.pt`` (written atomically), so a resumed run
    (`saved`, what `_load_checkpoint` read) continues from its last finished epoch.
    `setting`: the run's population, as `population_size` takes it; `fingerprint`: the
    experiments' (`run_fingerprint`) and the data's, which the checkpoint keeps for a
    resume to check."""
    labels = member_labels(experiments)
    groups: dict[str, list[int]] = {}
    for index, experiment in enumerate(experiments):
        groups.setdefault(structure_key(experiment), []).append(index)
    experiments_fingerprint, data = fingerprint
    results: list[MemberResult] = list(saved["done"]) if saved else []
    for group, indices in enumerate(groups.values()):
        if saved and group < saved["group"]:
            continue
        lead = experiments[indices[0]]
        group_task = task_for(lead, dataset)
        source = MemberList(
            [make_member(experiments[i], i, labels[i], network is not None) for i in indices]
        )
        trained = build_population(lead, dataset, group_task, device, network)
        if saved and group == saved["group"]:
            capacity = saved["capacity"]
        else:
            capacity = population_size(
                setting,
                trained,
                lead,
                dataset,
                group_task,
                len(indices),
                network,
                optimizers={experiments[i].train.optimizer for i in indices},
            )

        checkpoint = _Checkpointing(
            out,
            on_epoch,
            {
                "fingerprint": experiments_fingerprint,
                "data": data,
                "group": group,
                "capacity": capacity,
            },
            results,
            source,
        )
        trainer = PopulationTrainer(
            trained,
            source,
            capacity,
            dataset.x_val,
            dataset.y_val,
            monitor_for(lead, group_task),
            on_epoch=checkpoint,
        )
        checkpoint.trainer = trainer
        if saved and group == saved["group"]:
            source.pending, source.results = saved["pending"], saved["finished"]
            trainer.load_state_dict(saved["trainer"])
        fit(trainer)
        results.extend(source.results)
    (out / CHECKPOINT).unlink(missing_ok=True)
    return sorted(results, key=lambda r: r.member.id)


@dataclass
class _Checkpointing:
    """`fit`'s epoch callback: show progress, then save everything needed to resume."""

    out: Path
    progress: EpochCallback
    fixed: dict[str, Any]
    done: list[MemberResult]
    source: MemberList
    trainer: PopulationTrainer | None = None

    def __call__(self, population: Population, rows: list[dict[str, float]]) -> None:
        self.progress(population, rows)
        _save_checkpoint(
            self.out,
            {
                **self.fixed,
                "done": self.done,
                "pending": self.source.pending,
                "finished": self.source.results,
                "trainer": self.trainer.state_dict(),
            },
        )


def run_fingerprint(experiments: list[Experiment]) -> str:
    """What a checkpoint must have been written by to be resumed: the experiments'
    values, and which of them the file set (an unset optimizer key takes the rule's
    default, `make_member`, so setting it changes the run as much as changing it does).
    Where the run goes and on what device are not its values: `--out` as an absolute
    path, or `--device cpu` for auto on a CPU, resumes the same run."""
    where = {"out", "device"}
    dumps = []
    for e in experiments:
        dump = e.model_dump(mode="json", exclude={"train": where})
        chosen = (e.train.model_fields_set | e.model.model_fields_set) - where
        dumps.append([dump, sorted(chosen)])
    return json.dumps(dumps, sort_keys=True)


def _save_checkpoint(out: Path, state: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    partial = out / (CHECKPOINT + ".partial")
    torch.save(state, partial)
    partial.replace(out / CHECKPOINT)  # atomic: a kill never leaves half a checkpoint


def _load_checkpoint(out: Path, fingerprint: tuple[str, str]) -> dict[str, Any]:
    """The checkpoint to resume, if the same experiments on the same data wrote it
    (`fingerprint`: the experiments' and the data's)."""
    experiments, data = fingerprint
    path = out / CHECKPOINT
    if not path.is_file():
        raise UserError(f"--resume: no {CHECKPOINT} in {out} (nothing to resume)")
    # Our own file: members, results and schedules are pickled dataclasses.
    try:
        state = torch.load(path, weights_only=False)
    except Exception as error:  # cut short, overwritten: torch.load's errors are many
        raise UserError(
            f"--resume: {path} is not a readable checkpoint ({first_line(error)}); "
            "train again without --resume"
        ) from None
    if not isinstance(state, dict) or "fingerprint" not in state:
        raise UserError(f"--resume: {path} is not a steepest checkpoint")
    if state["fingerprint"] != experiments:
        raise UserError(f"--resume: {path} was written by a different experiment")
    if "data" not in state:
        raise UserError(
            f"--resume: {path} was written by an earlier steepest, which did not record "
            "its data; train again without --resume"
        )
    if state["data"] != data:
        raise UserError(
            f"--resume: {path} was written for other data (examples added, removed or "
            "changed since, so the splits differ); train again without --resume"
        )
    return state


def monitor_for(experiment: Experiment, task: Task) -> Monitor:
    """val_metric in the metric's direction, or val_loss (always minimised)."""
    if experiment.train.monitor == "val_loss":
        return Monitor("val_loss", maximize=False)
    return Monitor("val_metric", maximize=task.maximize)


def population_size(
    setting: int | str,
    population: Population,
    experiment: Experiment,
    dataset: Dataset,
    task: Task,
    limit: int,
    network: NetworkFactory | None = None,
    measure: bool = True,
    optimizers: Collection[str] = (),
) -> int:
    """K for up to `limit` members of `experiment`'s structure, whose empty `population`
    will train them (sized here, left as it is): the explicit setting, or for ``auto`` the
    measured size past which throughput stops growing — or, without `measure`, the
    largest size memory allows, which timing noise cannot change. Memory counts the
    largest state among `optimizers` (default: the experiment's own)."""
    optimizers = optimizers or (experiment.train.optimizer,)
    refuse_beyond_memory(population, optimizers)
    if setting != "auto":
        return int(setting)
    if not measure:
        return largest_fitting(population, limit, optimizers)
    return choose_capacity(  # on a population of its own: probing adds members
        build_population(experiment, dataset, task, population.device, network),
        lambda i: make_member(experiment, -1 - i, user_network=network is not None),
        limit,
        optimizers=optimizers,
    )


def _remove_empty(folders: list[Path]) -> None:
    """Remove `folders` (deepest first) while they are empty."""
    with contextlib.suppress(OSError):
        for folder in folders:
            folder.rmdir()


def _population_setting(population: Any) -> int | str | None:
    """`train`'s population: None, "auto" or a whole number ≥ 1 (a NumPy integer too; a
    bool is no number, as in a file)."""
    if population is None or population == "auto":
        return population
    if isinstance(population, numbers.Integral) and not isinstance(population, bool):
        if population >= 1:
            return int(population)
    raise UserError(f"population = {population!r}: expected at least 1 member, or 'auto'")


def _as_experiments(value: Any) -> list[Experiment]:
    """What `train` takes: a file's path, a dict (lists of values expand to their grid,
    as in a file), an Experiment, or a list of dicts and Experiments."""
    if isinstance(value, (str, Path)):
        return load_experiments(value)
    if isinstance(value, Experiment):
        return [value]
    if isinstance(value, dict):
        return expand_grid(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (dict, Experiment)) for v in value):
        return [e for v in value for e in _as_experiments(v)]
    raise UserError(
        f"experiments = {value!r}: expected a file's path, a dict, an Experiment, or a list "
        "of dicts and Experiments"
    )


def write_outputs(run: Run) -> dict[str, Any]:
    """history.csv, members.json, summary.json and best.pt in the run's folder; returns
    the summary (with the best member's test figures when the data has a test split)."""
    best = run.best  # first: a run with no best member must not overwrite an older run's
    test = run.evaluate("test") if run.dataset.has_test else {}
    run.out.mkdir(parents=True, exist_ok=True)
    _write_history(run.out / "history.csv", run.history)
    members = [
        {
            "member": r.member.id,
            "label": r.member.tag,
            "hparams": r.member.hparams,
            "optimizer": r.member.optimizer,
            "seed": r.member.seed,
            "status": r.status,
            "best_epoch": r.best_epoch,
            "best_val": r.best_value,
        }
        for r in run.results
    ]
    (run.out / "members.json").write_text(json.dumps(members, indent=2))
    summary = {
        "metric": run.metric_name,
        "direction": "maximize" if run.maximize else "minimize",  # the metric's
        "monitor": run.monitor.column,  # what best_epoch, best_val and best_member go by
        "task": run.dataset.task,
        "best_member": best.member.id,
        "best_label": best.member.tag,
        "best_epoch": best.best_epoch,
        "best_val": best.best_value,
        **{f"test_{name}": value for name, value in test.items()},
        "members": len(run.results),
        **_pca_figures(run.dataset.preprocessor),
        **_target_figures(run.dataset),
        "diverged": [
            r.member.tag or f"member {r.member.id}" for r in run.results if r.status == "diverged"
        ],
        "out": str(run.out),
    }
    (run.out / "summary.json").write_text(json.dumps(summary, indent=2))
    torch.save(
        {
            "experiment": run.experiments[best.member.id].model_dump(mode="json"),
            "state": best.best_state,
            "preprocessor": run.dataset.preprocessor.state_dict(),
            "class_names": run.dataset.class_names,
            "feature_names": run.dataset.raw_feature_names,
            "input_shape": run.dataset.input_shape,
            "uint8_pixels": run.dataset.uint8_pixels,
            "target": {"shift": run.dataset.target_shift, "scale": run.dataset.target_scale},
            "task": run.dataset.task,
            "out_features": task_for(run.experiments[best.member.id], run.dataset).out_features,
            "own_network": run.network is not None,  # [model] module is in "experiment"
        },
        run.out / "best.pt",
    )
    return summary


def _target_figures(dataset: Dataset) -> dict[str, float]:
    """The training split's target mean and deviation, when the run trained on
    standardised targets (its losses are then in those units)."""
    if not dataset.scales_target:
        return {}
    return {"target_mean": dataset.target_shift, "target_sd": dataset.target_scale}


def _pca_figures(preprocessor: Preprocessor) -> dict[str, Any]:
    """What PCA kept, when the run used it: its components and their share of the
    training split's variance (the kept fraction is otherwise nowhere to be seen)."""
    if preprocessor.components is None:
        return {}
    return {
        "pca_components": len(preprocessor.components),
        "pca_variance_kept": preprocessor.kept_variance,
    }


def _write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
