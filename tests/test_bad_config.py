"""Bad configs stop the run before any job starts, with one line naming the key and value.

The cases call the config check (workflow/lib/config_check.py) in-process; one end-to-end
test proves that Snakemake runs it and prints nothing but that line.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from helpers import FAST_RECIPE, REPO, copy_project, reduced_demo_config, run_snakemake, write_config

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
#: Printed by Snakemake itself, before it reads the Snakefile, whenever it runs in the project.
PROFILE_NOTICE = "Using workflow specific profile profiles/default for setting default command line arguments."


def _config_check_module():
    spec = importlib.util.spec_from_file_location("config_check", REPO / "workflow/lib/config_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


config_check = _config_check_module()


def _set(*path_and_value):
    *path, key, value = path_and_value

    def mutate(config):
        node = config
        for part in path:
            node = node[part]
        node[key] = value

    return mutate


@pytest.mark.parametrize(
    "mutate, message",
    [
        (_set("sedes", [0]), "config key sedes: unknown key; allowed here: accelerator, claims, datasets, device,"),
        (
            _set("methods", "weightmom", "betta", 0.3),
            "config key methods.weightmom.betta: unknown key; allowed here: allocation, beta, density_exponent, "
            "granularity, min_density, score, statistic (options of pruner 'weightmom')",
        ),
        (
            _set(
                "methods", "wm_levelling", {"pruner": "weightmom", "allocation": "levelling", "density_exponent": 1.0}
            ),
            "config key methods.wm_levelling.density_exponent: 1.0 is not allowed together with this entry's other "
            "settings (options of pruner 'weightmom')",
        ),
        (
            _set("methods", "weightmom", "allocation", "relative"),
            "config key methods.weightmom.allocation: 'relative' is not one of ['score_budget', 'global_scaled', "
            "'levelling', 'uniform', 'global'] (options of pruner 'weightmom')",
        ),
        (
            _set("datasets", "digits", "val_fraction", 0.7),
            "config key datasets.digits.val_fraction: 0.7 is greater than the maximum of 0.5",
        ),
        (
            _set("datasets", "own", {"source": "imagefolder", "md5": "0" * 32}),
            "config key datasets.own: needs exactly one of: root | archive and md5",
        ),
        (_set("training", "dense", "lr", "fast"), "config key training.dense.lr: 'fast' is not of type 'number'"),
        (
            _set("claims", {"method": "weightmon"}),
            "config key claims.method: 'weightmon' is not in methods ['weightmom',",
        ),
        (
            _set("claims", {"method": "magnitude"}),
            "config key claims.method: 'magnitude' runs pruner 'magnitude', not weightmom",
        ),
        (
            _set("pruning", "sweep", {"max_compression": 10, "rounds": 2}),
            "config key pruning.sweep.max_compression: 10 must be past the target_compression 15",
        ),
        (
            _set("pruning", "sweep", {"max_compression": 50}),
            "config key pruning.sweep: 'rounds' is a required property",
        ),
        (
            _set("claims", {"paper_datasets": {"digits": "mnist"}}),
            "config key claims.paper_datasets.digits: 'mnist' is not one of ['cifar10', 'cifar100']",
        ),
        (_set("training", "dense", "epochs", 0), "config key training.dense.epochs: 0 is less than the minimum of 1"),
        (
            _set("training", "finetune", "epochs", -2),
            "config key training.finetune.epochs: -2 is less than the minimum of 1",
        ),
        (_set("training", "dense", "epochs", 3.0), "config key training.dense.epochs: 3.0 is not of type 'integer'"),
        (
            _set("pruning", "target_compression", 1),
            "config key pruning.target_compression: 1 is less than or equal to the minimum of 1",
        ),
        (
            _set("pruning", "target_compression", 0.5),
            "config key pruning.target_compression: 0.5 is less than or equal to the minimum of 1",
        ),
        (
            _set("tables", "digits", "models", ["resnet9000"]),
            "config key tables.digits.models[0]: 'resnet9000' is not one of ['mlp', 'cnn',",
        ),
        (
            _set("methods", "weightmom", "pruner", "nosuch"),
            "config key methods.weightmom.pruner: 'nosuch' is not a pruning method; known: ['global_magnitude',",
        ),
        (
            _set("tables", "digits", "methods", ["weightmom", "wm"]),
            "config key tables.digits.methods: ['wm'] are not in methods ['weightmom', 'magnitude', 'lottery', 'lamp']",
        ),
        (
            _set("tables", "digits", "dataset", "mnist"),
            "config key tables.digits.dataset: 'mnist' is not one of the datasets ['digits']",
        ),
        (
            _set("datasets", "digits", "source", "mnist"),
            "config key datasets.digits.source: 'mnist' is not one of ['digits', 'cifar10', 'cifar100', 'imagefolder']",
        ),
        (_set("seeds", [0, "one"]), "config key seeds[1]: 'one' is not of type 'integer'"),
        (_set("seeds", [0, 1.5]), "config key seeds[1]: 1.5 is not of type 'integer'"),
        (_set("seeds", [0, 1.0]), "config key seeds[1]: 1.0 is not of type 'integer'"),
        (_set("seeds", []), "config key seeds: [] should be non-empty"),
        (_set("methods", {}), "config key methods: {} should be non-empty"),
        (
            _set("tables", "digits", "models", ["cnn", "alexnet"]),
            "config key tables.digits.models[1]: model 'alexnet' needs images of at least 13x13 pixels; these are 8x8"
            " (dataset 'digits')",
        ),
        (
            _set("datasets", "digits", {"source": "imagefolder", "root": "/nonexistent/images"}),
            "config key datasets.digits.root: /nonexistent/images: no such file or folder",
        ),
        (
            _set("datasets", "digits", {"source": "imagefolder", "archive": "nosuch/images.tar.gz", "md5": "0" * 32}),
            "config key datasets.digits.archive: nosuch/images.tar.gz: no such file or folder",
        ),
        (
            _set("datasets", "digits", {"source": "cifar10", "url": "file:///nonexistent/c.tar.gz", "md5": "0" * 32}),
            "config key datasets.digits.url: file:///nonexistent/c.tar.gz: no such file or folder",
        ),
        (
            _set("tables", "paper", {"dataset": "digits", "models": ["mlp"]}),
            "config key tables.paper: the name is taken by the experiment's own tables/paper.md; pick another",
        ),
        (
            _set("methods", "lottery", "rewind_epoch", 99),
            "config key methods.lottery.rewind_epoch: 99 is after the last dense epoch (3)",
        ),
    ],
)
def test_bad_config_stops_naming_the_key_in_one_line(mutate, message, capsys, tmp_path):
    config = reduced_demo_config()
    mutate(config)
    with pytest.raises(SystemExit) as stop:
        config_check.check_or_exit(config, SCHEMA, workdir=tmp_path)
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"weightmom config: error: {message}"), err
    assert err.count("\n") == 1 and err.endswith("\n"), err


def test_an_imagefolder_root_needs_its_train_and_test_folders(tmp_path):
    config = reduced_demo_config()
    config["datasets"]["digits"] = {"source": "imagefolder", "root": str(tmp_path / "images")}
    (tmp_path / "images/train").mkdir(parents=True)
    with pytest.raises(config_check.ConfigError, match=r"datasets.digits.root: .*/images: test/ missing or unreadable"):
        config_check.checked(config, SCHEMA, workdir=tmp_path)
    (tmp_path / "images/test").mkdir()
    config_check.checked(config, SCHEMA, workdir=tmp_path)


def test_data_already_prepared_needs_no_source(tmp_path):
    """A clone that pulled an experiment's prepared data need not have the archive it came from."""
    config = reduced_demo_config()
    config["datasets"]["digits"] = {"source": "imagefolder", "archive": "/nonexistent/x.tar.gz", "md5": "0" * 32}
    with pytest.raises(config_check.ConfigError, match="no such file"):
        config_check.checked(config, SCHEMA, workdir=tmp_path)
    prepared = tmp_path / "results/demo/data/digits/train.npz"
    prepared.parent.mkdir(parents=True)
    prepared.write_bytes(b"")
    config_check.checked(config, SCHEMA, workdir=tmp_path)
    config["datasets"]["other"] = {"source": "digits"}
    for table in config["tables"].values():
        table["dataset"] = "other"
    config_check.checked(config, SCHEMA, workdir=tmp_path / "elsewhere")  # a dataset no table reads


def test_a_good_config_gets_the_defaults_of_the_schema_and_of_each_pruner():
    config = reduced_demo_config()
    del config["methods"]["weightmom"]["beta"], config["methods"]["lottery"]["rewind_epoch"]
    del config["datasets"]["digits"]["split_seed"], config["device"]
    assert "export" not in config["threads"]
    config_check.check_or_exit(config, SCHEMA)
    assert config["device"] == "auto"
    assert config["threads"]["export"] == 1
    assert config["datasets"]["digits"]["split_seed"] == 0  # a default inside an if/then of the schema
    assert config["methods"]["weightmom"]["beta"] == 0.5
    assert config["methods"]["lottery"] == {
        "pruner": "lottery",
        "rewind_epoch": 1,
        "allocation": "global",
        "min_density": 0.0,
    }


@pytest.mark.parametrize(
    "mutate, line",
    [
        (
            _set("sedes", [0]),
            "config key sedes: unknown key; allowed here: accelerator, claims, datasets, device, experiment, "
            "jobs_per_gpu, max_cpu_hours, methods, pruning, seeds, tables, threads, training",
        ),
        (
            _set("datasets", "digits", {"source": "imagefolder", "archive": "data/mine.tar.gz", "md5": "0" * 32}),
            "config key datasets.digits.archive: data/mine.tar.gz: no such file or folder",
        ),
    ],
)
@pytest.mark.slow
def test_snakemake_prints_only_the_line_and_makes_nothing(mutate, line, tmp_path):
    workdir = copy_project(tmp_path)
    config = reduced_demo_config()
    mutate(config)
    configfile = write_config(workdir, config)
    line = f"weightmom config: error: {line}"
    for mode in (["--cores", "1"], ["-n"]):
        result = run_snakemake(workdir, *mode, "--configfile", configfile)
        assert result.returncode == 1, mode
        assert result.stderr.splitlines() == [PROFILE_NOTICE, line], result.stderr[-2000:]
        assert result.stdout == "", result.stdout[-2000:]
    assert not any((workdir / d).exists() for d in ("data", "results", "logs", "summary"))


@pytest.mark.slow
def test_a_missing_config_file_is_named(tmp_path):
    workdir = copy_project(tmp_path)
    result = run_snakemake(workdir, "--cores", "1", "--configfile", "config/nosuch.yaml")
    assert result.returncode != 0
    assert "config/nosuch.yaml" in result.stderr


def test_a_model_too_deep_for_the_images_is_named_by_the_first_training_job(digits_dir, tmp_path, capsys):
    """Whether a model fits a dataset's image size is known once the data is prepared."""
    from weightmom.cli import main

    out = tmp_path / "checkpoint.pt"
    code = main(
        [
            "train",
            "--data",
            str(digits_dir),
            "--dataset",
            "digits",
            "--model",
            "alexnet",
            "--seed",
            "0",
            "--recipe",
            json.dumps(FAST_RECIPE),
            "--threads",
            "1",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.startswith(
        "weightmom train: error: model 'alexnet' cannot take the 8x8 images with 1 channel(s) of dataset 'digits' ("
    )
    assert not out.parent.joinpath("resume.pt").exists() and not out.exists()


def test_the_check_fills_the_defaults_a_method_really_uses():
    """Ablation tables and settings show the options a run used: WeightMom's defaults that
    depend on its allocation are filled by the check, as the pruner fills them."""
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["methods"].update(
        plain={"pruner": "weightmom"},
        scaled={"pruner": "weightmom", "allocation": "global_scaled"},
        levelled={"pruner": "weightmom", "allocation": "levelling"},
    )
    methods = config_check.checked(config, SCHEMA)["methods"]
    assert methods["plain"]["density_exponent"] == 1.0 and methods["plain"]["statistic"] == "score"
    assert methods["scaled"]["density_exponent"] == 1.0 and "statistic" not in methods["scaled"]
    assert "density_exponent" not in methods["levelled"] and "statistic" not in methods["levelled"]
    assert config_check.checked(config, SCHEMA)["claims"] == {
        "method": "weightmom",
        "tolerance": 1.0,
        "paper_datasets": {},
    }
