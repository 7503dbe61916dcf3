#!/usr/bin/env python3
"""Paper-layout tables (rows = training mode, columns = DCIN setting, one table per target domain) from the
metrics.json files of several `cqseg eval` runs, one run per training seed: mean ± sample std over the seeds.

usage: tools/results_tables.py METRICS.json [METRICS.json ...] > tables.md
A model may come in its own file (one `cqseg eval` per model); each (domain, model, setting) cell gets one value per
file that has it, i.e. one per seed.
Standard library only. The value is the vessel (foreground) Dice and the paper's macro Dice (background included),
both inside the field of view when the domain has one, x100.
"""
import json
import statistics
import sys

DCIN_NAMES = {"none": "no DCIN", "exri": "ExRI", "gris": "GRIS", "lris": "LRIS", "full": "GRIS+LRIS"}
MODE_NAMES = {"base": "S_base", "aug": "S_aug", "cqg": "S_CQG"}


def cell(values):
    if not values:
        return "-"
    if len(values) == 1:
        return "%.2f" % values[0]
    return "%.2f ± %.2f" % (statistics.mean(values), statistics.stdev(values))


def main(paths):
    if not paths or any(p in ("-h", "--help") for p in paths):
        print(__doc__.strip())
        sys.exit(0 if paths else 2)
    runs = []
    for p in paths:
        try:
            with open(p) as f:
                runs.append(json.load(f))
        except (OSError, ValueError) as e:
            sys.exit("results_tables.py: %s: %s" % (p, e))
    # (domain, mode, dcin, metric) -> [value per run]
    table = {}
    domains, dcins, modes = [], [], []
    for run in runs:
        mode_of = {m["label"]: m["mode"] for m in run["models"]}
        for d in run["domains"]:
            if d["name"] not in domains:
                domains.append(d["name"])
        for k in run["dcin"]:
            if k not in dcins:
                dcins.append(k)
        for r in run["results"]:
            mode = mode_of[r["model"]]
            if mode not in modes:
                modes.append(mode)
            where = r.get("fov") or r["image"]
            for metric in ("dice_fg", "dice_mean"):
                table.setdefault((r["domain"], mode, r["dcin"], metric), []).append(100 * where[metric])
    modes.sort(key=lambda m: list(MODE_NAMES).index(m) if m in MODE_NAMES else 99)
    n = max((len(v) for v in table.values()), default=0)  # seeds: values per cell
    out = []
    for metric, title in (("dice_fg", "Vessel Dice"), ("dice_mean", "Paper Dice (mean over background and vessel)")):
        for dom in domains:
            out.append("%s, %s, inside the field of view (%s):\n" %
                       (title, dom, "one seed" if n == 1 else "mean ± std over %d seeds" % n))
            out.append("| model | " + " | ".join(DCIN_NAMES.get(k, k) for k in dcins) + " |")
            out.append("| --- |" + " ---: |" * len(dcins))
            for mode in modes:
                vals = [table.get((dom, mode, k, metric), []) for k in dcins]
                best = max((statistics.mean(v) for v in vals if v), default=None)
                cells = []
                for v in vals:
                    c = cell(v)
                    if v and best is not None and abs(statistics.mean(v) - best) < 1e-9:
                        c = "**" + c + "**"
                    cells.append(c)
                out.append("| %s | %s |" % (MODE_NAMES.get(mode, mode), " | ".join(cells)))
            out.append("")
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
