#!/usr/bin/env python3
"""Paper-layout tables (rows = training mode, columns = DCIN setting, one table per target domain) from the
metrics.json files of several `cqseg eval` runs, one run per training seed: mean ± sample std over the seeds.

usage: tools/results_tables.py METRICS.json [METRICS.json ...] > tables.md
A model may come in its own file (one `cqseg eval` per model); each (domain, model, setting) cell gets one value per
file that has it, i.e. one per seed.
Standard library only. The value is the vessel (foreground) Dice and the paper's macro Dice (background included),
both inside the field of view when the domain has one, x100.

With two or more seeds it also prints paired differences of the vessel Dice (S_CQG - S_aug, S_CQG - S_base,
S_aug - S_base, and each model's gain of every DCIN setting over no DCIN): one difference per seed, then mean ±
sample std and in how many seeds it is positive; and every seed's vessel Dice side by side. Pairing is by seed: the
seed comes from the manifest.json next to each evaluated checkpoint (`cqseg train` writes it); without one, the k-th
file of a model counts as its k-th seed.
"""
import json
import os
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


def seed_of(run, metrics_path):
    """The training seed of the checkpoint a metrics.json evaluated, from the run folder's manifest.json; None if
    not found. A relative checkpoint path is relative to where `cqseg eval` ran: tried from the metrics file's
    folder and its ancestors, then the run folder of the same name next to the metrics file's folder (an archive)."""
    try:
        ck = run["models"][0]["checkpoint"]
    except (KeyError, IndexError, TypeError):
        return None
    bases = [""]
    d = os.path.dirname(os.path.abspath(metrics_path))
    for _ in range(4):
        bases.append(d)
        d = os.path.dirname(d)
    candidates = [os.path.join(base, os.path.dirname(ck), "manifest.json") for base in bases]
    # An archived copy (tools/reproduce_fundus.sh ARCHIVE=...: sN/eval_<mode>/metrics.json next to sN/<mode>/) keeps
    # the run folder's name but not the path the checkpoint had when it was evaluated.
    candidates.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(metrics_path))),
                                   os.path.basename(os.path.dirname(ck)), "manifest.json"))
    for path in candidates:
        try:
            with open(path) as f:
                return str(json.load(f)["config"]["seed"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def seeds_label(table, dom, modes, metric):
    """How many seeds a table's cells average: one count when every model has the same, else each model's (while a
    protocol's runs are still coming in, a mean over three seeds must not sit under a heading that says one)."""
    count = {m: max((len(v) for k, v in table.items() if k[0] == dom and k[1] == m and k[3] == metric), default=0)
             for m in modes}
    counts = set(c for c in count.values() if c)
    if len(counts) <= 1:
        c = counts.pop() if counts else 0
        return "one seed" if c == 1 else "mean ± std over %d seeds" % c
    return "mean ± std over the seeds each model has: " + ", ".join(
        "%s %d" % (MODE_NAMES.get(m, m), count[m]) for m in modes if count[m])


def paired(per_seed, domains, dcins, modes):
    """Markdown tables of per-seed vessel Dice differences; per_seed: (domain, mode, dcin) -> {seed: value}."""
    def diff_cell(a, b):
        seeds = sorted(set(a) & set(b))
        if len(seeds) < 2:
            return None
        d = [a[s] - b[s] for s in seeds]
        return "%+.2f ± %.2f (%d/%d)" % (statistics.mean(d), statistics.stdev(d), sum(x > 0 for x in d), len(d))

    out = []
    pairs = [(x, y) for x, y in (("cqg", "aug"), ("cqg", "base"), ("aug", "base")) if x in modes and y in modes]
    for x, y in pairs:
        rows = []
        for dom in domains:
            cells = [diff_cell(per_seed.get((dom, x, k), {}), per_seed.get((dom, y, k), {})) for k in dcins]
            if any(cells):
                rows.append("| %s | %s |" % (dom, " | ".join(c or "-" for c in cells)))
        if rows:
            out.append("Vessel Dice, %s - %s per seed, inside the field of view (mean ± std; seeds where positive):\n"
                       % (MODE_NAMES.get(x, x), MODE_NAMES.get(y, y)))
            out.append("| domain | " + " | ".join(DCIN_NAMES.get(k, k) for k in dcins) + " |")
            out.append("| --- |" + " ---: |" * len(dcins))
            out += rows + [""]
    if "none" in dcins:
        gains = [k for k in dcins if k != "none"]
        rows = []
        for mode in modes:
            for dom in domains:
                none = per_seed.get((dom, mode, "none"), {})
                cells = [diff_cell(per_seed.get((dom, mode, k), {}), none) for k in gains]
                if any(cells):
                    rows.append("| %s | %s | %s |" % (MODE_NAMES.get(mode, mode), dom,
                                                      " | ".join(c or "-" for c in cells)))
        if rows:
            out.append("Vessel Dice gain over no DCIN per seed, inside the field of view (mean ± std; seeds where "
                       "positive):\n")
            out.append("| model | domain | " + " | ".join(DCIN_NAMES.get(k, k) for k in gains) + " |")
            out.append("| --- | --- |" + " ---: |" * len(gains))
            out += rows + [""]
    return out


def each_seed(per_seed, domains, dcins, modes):
    """One markdown table of every seed's vessel Dice side by side ("a / b / c", "-" where a seed lacks the cell)."""
    seeds = sorted({s for v in per_seed.values() for s in v}, key=lambda s: (0, int(s)) if s.isdigit() else (1, s))
    label = " / ".join(s if s.startswith("#") else "seed " + s for s in seeds)
    out = ["Vessel Dice per seed, inside the field of view (%s):\n" % label,
           "| domain | model | " + " | ".join(DCIN_NAMES.get(k, k) for k in dcins) + " |",
           "| --- | --- |" + " ---: |" * len(dcins)]
    for dom in domains:
        for mode in modes:
            cells = []
            for k in dcins:
                v = per_seed.get((dom, mode, k), {})
                cells.append(" / ".join("%.2f" % v[s] if s in v else "-" for s in seeds))
            out.append("| %s | %s | %s |" % (dom, MODE_NAMES.get(mode, mode), " | ".join(cells)))
    out.append("")
    return out


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
    seeds = [seed_of(run, p) for run, p in zip(runs, paths)]
    if None in seeds:  # pair by position for all files rather than mix the two rules
        sys.stderr.write("results_tables.py: no manifest.json for %s; pairing seeds by file order\n" %
                         paths[seeds.index(None)])
        seeds = None
    # (domain, mode, dcin, metric) -> [value per run]
    table = {}
    per_seed = {}  # (domain, mode, dcin) -> {seed: vessel Dice}
    domains, dcins, modes = [], [], []
    position = {}  # mode -> files seen so far (the fallback seed)
    for i, run in enumerate(runs):
        mode0 = run["models"][0]["mode"] if run.get("models") else ""
        position[mode0] = position.get(mode0, 0) + 1
        seed = seeds[i] if seeds else "#%d" % position[mode0]
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
            cell_seeds = per_seed.setdefault((r["domain"], mode, r["dcin"]), {})
            if seed in cell_seeds:
                sys.exit("results_tables.py: two files give %s, %s, %s for seed %s" %
                         (MODE_NAMES.get(mode, mode), r["domain"], r["dcin"], seed))
            cell_seeds[seed] = 100 * where["dice_fg"]
    modes.sort(key=lambda m: list(MODE_NAMES).index(m) if m in MODE_NAMES else 99)
    n = max((len(v) for v in table.values()), default=0)  # seeds: values per cell
    out = []
    for metric, title in (("dice_fg", "Vessel Dice"), ("dice_mean", "Paper Dice (mean over background and vessel)")):
        for dom in domains:
            out.append("%s, %s, inside the field of view (%s):\n" % (title, dom, seeds_label(table, dom, modes, metric)))
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
    if n >= 2:
        out += paired(per_seed, domains, dcins, modes)
        out += each_seed(per_seed, domains, dcins, modes)
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
