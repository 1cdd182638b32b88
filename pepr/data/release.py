"""The official PePR release, described once.

As ``medmnist.INFO`` describes every MedMNIST dataset in one declarative dict, :data:`RELEASE`
describes the release that the study ``paper`` imports: where it lives (repository, pinned
commit, licence), its files (name, pinned URL, SHA-256, size, what each holds), its eight
settings *in the order its ``all_results.csv`` lists them* (dataset, start, share of the
training data), the protocol its training script ran, and the paired comparisons its paper
tests. Everything else reads the release from here: the data-file registry
(:data:`pepr.data.paper.PAPER_FILES`), the import into the run schema
(:func:`pepr.store.results.import_paper`, :data:`pepr.store.results.PAPER_SETTINGS`,
:data:`pepr.store.results.PAPER_PROTOCOL`), the training defaults (:mod:`pepr.runspec`) and the
analysis (:data:`pepr.scoring.analysis.PAPER_COMPARISONS`). Nothing here reads a file or the network.
"""

from __future__ import annotations

from typing import Any

from pepr.core.sources import RemoteFile

REPOSITORY = "saintslab/PePR"
COMMIT = "ce087aafcdce4a5b636152d170475a6df5f4c3d7"
URL_TEMPLATE = f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/data/{{name}}"
LICENSE = "MIT, (c) 2024 Selvan"


def _file(name: str, sha256: str, size_bytes: int, description: str) -> RemoteFile:
    return RemoteFile(group="paper", name=name, url=URL_TEMPLATE.format(name=name), sha256=sha256,
                      size_bytes=size_bytes, description=description)


#: The release's data files, by name.
FILES: dict[str, RemoteFile] = {
    remote.name: remote
    for remote in [
        _file("all_results.csv", "1f624ef1a68433aa2c56b83831bb30a1e06c285b56531fde8056f06a42394e98", 368_654,
              "1,048 runs: 131 timm models x 8 settings, with carbontracker energy/CO2, GPU memory, "
              "times and the test accuracy after each of 10 epochs"),
        _file("model_names.csv", "e26300f35a182a893c90d581684c0d61ed016f6e4f8bfcca370b817ea2bf9e7f", 8_305,
              "the 131 models: parameter count, type (CNN/Other), efficient flag, source paper"),
        _file("regions_papers_data_2013.csv", "1a83c1bb95f472947e1737d6542fec5d399ebb67a064f6de2d1017e1176facb8",
              11_884, "publications and population per country and world region, 2013"),
        _file("regions_papers_data_2023.csv", "3d4695803dbcf93fd11bc53488706ffc863e232ee282f054673a680ac6281b88",
              13_587, "publications and population per country and world region, later year "
                      "(the release's figure labels it 2022)"),
        _file("results-imagenet.csv", "94f9925f015e349b2a17a30f80861d43fb0b93879288dba7efae67c2cec54f58", 113_785,
              "timm's published ImageNet validation results as the release used them"),
    ]
}

#: The release's eight settings, in the order ``all_results.csv`` lists them: what each trained
#: on. All but ``derma`` fine-tuned ImageNet weights (the release's training script loads
#: ``pretrained=True``); the reduced settings used a random subset of the training split, 10 %
#: (``*_small``) and about 1 % (``derma_smallest``).
SETTINGS: dict[str, dict[str, object]] = {
    "derma": {"dataset": "dermamnist", "pretrained": False, "data_fraction": 1.0},
    "derma_pt": {"dataset": "dermamnist", "pretrained": True, "data_fraction": 1.0},
    "derma_small": {"dataset": "dermamnist", "pretrained": True, "data_fraction": 0.1},
    "derma_smallest": {"dataset": "dermamnist", "pretrained": True, "data_fraction": 0.01},
    "lidc": {"dataset": "lidc-idri", "pretrained": True, "data_fraction": 1.0},
    "lidc_small": {"dataset": "lidc-idri", "pretrained": True, "data_fraction": 0.1},
    "pneumonia": {"dataset": "pneumoniamnist", "pretrained": True, "data_fraction": 1.0},
    "pneumonia_small": {"dataset": "pneumoniamnist", "pretrained": True, "data_fraction": 0.1},
}

#: The release's protocol (its training script): Adam, lr 5e-4, batch 32, 10 epochs, seed 1.
PROTOCOL: dict[str, object] = {"epochs": 10, "batch_size": 32, "optimizer": "adam", "lr": 5e-4, "seed": 1}

#: The paper's two paired comparisons: a label -> the settings of arm ``a`` and of arm ``b``. An
#: arm of several settings is each model's mean over them (the data-size test averages the three
#: datasets trained both ways).
COMPARISONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pretrained vs scratch (DermaMNIST)": (("derma_pt",), ("derma",)),
    "100 % vs 10 % data (mean of 3 datasets)": (("derma_pt", "lidc", "pneumonia"),
                                                ("derma_small", "lidc_small", "pneumonia_small")),
}

#: The most accurate model of each setting as the release's results notebook
#: (``results_table.ipynb``) printed it: the last row of each of its top-5 tables. That notebook
#: sorts ``test_09`` with pandas' default, unstable sort, so where models tie its choice need not
#: be the first of them in file order. Recorded as printed, so the book can say where its own
#: listing (a stable sort, the first in ``all_results.csv`` order) differs.
PUBLISHED_MOST_ACCURATE: dict[str, str] = {
    "derma_pt": "edgenext_base", "lidc": "dpn107", "lidc_small": "seresnext101d_32x8d",
    "derma": "halonet50ts", "derma_small": "ese_vovnet19b_dw", "derma_smallest": "mobilenetv2_050",
    "pneumonia": "pnasnet5large", "pneumonia_small": "cs3edgenet_x",
}

#: The whole description, one dict (as ``medmnist.INFO`` holds one per dataset).
RELEASE: dict[str, Any] = {
    "repository": REPOSITORY,
    "commit": COMMIT,
    "license": LICENSE,
    "files": FILES,
    "settings": SETTINGS,
    "protocol": PROTOCOL,
    "comparisons": COMPARISONS,
    "published_most_accurate": PUBLISHED_MOST_ACCURATE,
}
