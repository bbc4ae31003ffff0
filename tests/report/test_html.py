"""The study report file: self-contained, well-formed, complete, and robust to studies
that are empty, still running, minimised or stored in a journal file."""

import base64
import io
import re
from html.parser import HTMLParser

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from PIL import Image

from steepest.report.html import write_report

from .synthetic import make_study

VOID = {"meta", "img", "br", "input", "link", "hr"}


class TagBalance(HTMLParser):
    """Records tags left open or closed out of order (a page that renders by luck)."""

    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"unexpected </{tag}> at {self.getpos()}")


def check_well_formed(text: str) -> None:
    parser = TagBalance()
    parser.feed(text)
    assert parser.errors == [] and parser.open == []


def section_ids(text: str) -> list[str]:
    return re.findall(r'<section id="(\w+)">', text)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    study = make_study(30, epochs=12, running=2)
    path = write_report(study, tmp_path_factory.mktemp("html") / "study.html")
    return study, path.read_text(encoding="utf-8")


def test_self_contained_page_forbids_outside_requests(report):
    _, text = report
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert not re.search(r'(src|href)="(?!data:|#)', text)  # only data: URIs and anchors
    assert "http://" not in text and "https://" not in text
    check_well_formed(text)


def test_every_section_is_present(report):
    _, text = report
    assert section_ids(text) == [
        "summary",
        "history",
        "curves",
        "parallel",
        "slices",
        "importance",
        "stages",
        "trials",
    ]
    for anchor in section_ids(text):
        assert f'href="#{anchor}"' in text


def test_figures_are_inline_pngs(report):
    _, text = report
    uris = re.findall(r'<img src="data:image/png;base64,([^"]+)"', text)
    assert len(uris) == 6
    with Image.open(io.BytesIO(base64.b64decode(uris[0]))) as image:
        assert image.format == "PNG" and image.width > 800


def test_summary_counts_and_best_trial(report):
    study, text = report
    assert "<b>5</b><span>failed trials</span>" in text
    assert "<b>2</b><span>running trials</span>" in text
    assert '<span class="badge">running</span>' in text
    assert f"{study.best_value * 100:.2f}%" in text
    assert f"(trial {study.best_trial.number})" in text


def test_trials_table_has_a_sortable_row_per_trial(report):
    study, text = report
    table = text[text.index('<table class="sortable">') :]
    assert table.count("<tr") == 1 + len(study.trials)  # header + one per trial
    assert "<script>" in text and "aria-sort" in text
    best = re.search(r"<tr class=best><td[^>]*>(\d+)</td>", table)
    assert int(best.group(1)) == study.best_trial.number
    running = re.findall(r'data-sort="RUNNING"', table)
    assert len(running) == 2


def test_stage_table_shows_narrowed_ranges(report):
    _, text = report
    assert "0.01 – 0.1 (log), 25% of stage 0" in text


def test_empty_study_still_makes_a_page(tmp_path):
    text = write_report(optuna.create_study(), tmp_path / "empty.html").read_text()
    check_well_formed(text)
    assert "No trial has completed or been pruned yet." in text
    assert "needs at least 2 complete trials" in text
    assert "stages" not in section_ids(text) and "<img" not in text


def test_study_with_only_running_trials(tmp_path):
    study = make_study(4, running=4, stages=False)
    text = write_report(study, tmp_path / "running.html").read_text()
    check_well_formed(text)
    assert "<b>4</b><span>running trials</span>" in text
    assert "Parallel coordinates need a complete trial." in text
    assert text.count("<img") == 1  # the running trials' learning curves


def test_minimised_study_in_a_journal_file(tmp_path):
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    study = optuna.create_study(storage=storage, study_name="quadratic")

    def objective(trial):
        x = trial.suggest_float("x", -2, 2)
        for epoch in range(3):
            trial.report((x - 0.5) ** 2 + 1 / (epoch + 1), epoch)
        return (x - 0.5) ** 2

    study.optimize(objective, n_trials=6)
    loaded = optuna.load_study(study_name="quadratic", storage=storage)
    text = write_report(loaded, tmp_path / "quadratic.html").read_text()
    check_well_formed(text)
    assert "minimise objective" in text and "Study quadratic" in text
    assert f"{loaded.best_value:.4g}" in text
    assert "running" not in text.split("<main>")[0]


def test_stages_announced_before_any_trial(tmp_path):
    study = optuna.create_study()
    study.set_user_attr(
        "stages", [{"stage": 0, "space": {"lr": {"low": 1e-3, "high": 1.0, "log": True}}}]
    )
    text = write_report(study, tmp_path / "stage0.html").read_text()
    assert "No trial has sampled these ranges yet." in text
    assert "0.001 – 1 (log), 100% of stage 0" in text


def test_a_trial_that_diverged_in_its_first_epoch_shows_it_trained_one(tmp_path):
    """It read "epochs trained 0" with no reason, and its population index 0 read as a
    population of no trials."""
    study = optuna.create_study()
    attrs = {"status": "diverged", "train_loss": [float("nan")], "population": 0}
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL, user_attrs=attrs | {"population_size": 5}
        )
    )
    text = write_report(study, tmp_path / "diverged.html").read_text()
    headers = re.findall(r"<th><button>([^<]*)</button></th>", text)
    headers.remove("state")  # its cell holds a span, not text
    cells = re.findall(r'<td class="[^"]*" data-sort="[^"]*">([^<]*)</td>', text)
    row = dict(zip(headers, cells, strict=True))
    assert row["epochs trained"] == "1" and row["status"] == "diverged"
    assert row["population #"] == "0" and row["trials in population"] == "5"


def test_a_sub_second_wall_time_keeps_its_digits(tmp_path):
    """0.048 s read "0.0 s" beside 1242.7 finished trials / minute."""
    study = optuna.create_study()
    study.set_user_attr("started", "2026-01-01T10:00:00")
    study.set_user_attr("finished", "2026-01-01T10:00:00.048")
    study.add_trial(optuna.trial.create_trial(value=1.0))
    text = write_report(study, tmp_path / "short.html").read_text()
    assert "<b>0.048 s</b><span>wall time</span>" in text
    assert "<b>1250.0</b><span>finished trials / minute</span>" in text
