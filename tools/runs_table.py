#!/usr/bin/env python3
"""The runs table of docs/RESULTS.md and the convergence check behind its epoch counts, from training run folders
(`cqseg train --out`, or their archive by tools/reproduce_fundus.sh ARCHIVE=...).

usage: tools/runs_table.py RUN_DIR [RUN_DIR ...] > runs.md
Each RUN_DIR holds manifest.json and log.jsonl, and optionally SHA256SUMS (`sha256sum best.safetensors ...`, as the
archive keeps it) or the checkpoint itself. Standard library only.

Per run: seed, model, epochs, the best epoch (lowest validation loss: the epoch that wrote best.safetensors) with its
validation loss and vessel Dice, the wall time (sum of the logged epoch times: training, precise-BN pass and
validation), and the first 16 hex digits of the SHA-256 of manifest.json and of best.safetensors.

Convergence (the rule RESULTS.md states): the validation vessel Dice is averaged over ten-epoch windows (1-10,
11-20, ...); a run has levelled off at the end of window k when the mean gained less than GAIN (0.1 Dice points) from
window k-1 to k and from k-2 to k-1 ("twice running"). The second table gives each run's last window means, their
gains, the first epoch at which the rule held and whether it holds over the run's last three windows (a run can
level off early and rise again).
"""
import hashlib
import json
import os
import sys

MODE_NAMES = {"base": "S_base", "aug": "S_aug", "cqg": "S_CQG"}
WINDOW = 10
GAIN = 0.1  # Dice points (x100)


class RunError(Exception):
    pass


def load_run(run_dir):
    """manifest, epoch records and best.safetensors' SHA-256 (None when neither SHA256SUMS nor the file is there)."""
    try:
        with open(os.path.join(run_dir, "manifest.json"), "rb") as f:
            raw = f.read()
        manifest = json.loads(raw)
        manifest_sha = hashlib.sha256(raw).hexdigest()
    except (OSError, ValueError) as e:
        raise RunError("%s: cannot read manifest.json (%s)" % (run_dir, e))
    records = []
    log = os.path.join(run_dir, "log.jsonl")
    try:
        with open(log) as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except ValueError as e:
                        raise RunError("%s line %d: not JSON (%s)" % (log, n, e))
    except OSError as e:
        raise RunError("%s: cannot read log.jsonl (%s)" % (run_dir, e))
    if not records:
        raise RunError("%s: log.jsonl has no epochs" % run_dir)
    for n, r in enumerate(records, 1):
        if r.get("epoch") != n:
            raise RunError("%s: log.jsonl line %d is epoch %s, expected %d" % (log, n, r.get("epoch"), n))
    return manifest, manifest_sha, records, best_sha(run_dir)


def best_sha(run_dir):
    sums = os.path.join(run_dir, "SHA256SUMS")
    if os.path.exists(sums):
        with open(sums) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1].lstrip("*") == "best.safetensors":
                    return parts[0]
    ck = os.path.join(run_dir, "best.safetensors")
    if os.path.exists(ck):
        h = hashlib.sha256()
        with open(ck, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    return None


def best_epoch(records):
    """The epoch that wrote best.safetensors last (cqseg marks it "best": the lowest validation loss so far)."""
    marked = [r for r in records if r.get("best")]
    if marked:
        return marked[-1]
    return min(records, key=lambda r: r["val_loss"])


def windows(records):
    """Mean validation vessel Dice (x100) of each complete ten-epoch window."""
    full = len(records) // WINDOW
    return [100.0 * sum(r["val_dice"] for r in records[k * WINDOW:(k + 1) * WINDOW]) / WINDOW for k in range(full)]


def levelled_off(means):
    """The last epoch of the first window at which the rule holds, or None."""
    for k in range(2, len(means)):
        if means[k] - means[k - 1] < GAIN and means[k - 1] - means[k - 2] < GAIN:
            return (k + 1) * WINDOW
    return None


def main(dirs):
    if not dirs or any(d in ("-h", "--help") for d in dirs):
        print(__doc__.strip())
        sys.exit(0 if dirs else 2)
    runs = []
    for d in dirs:
        try:
            runs.append((d,) + load_run(d))
        except RunError as e:
            sys.stderr.write("runs_table.py: %s\n" % e)
            sys.exit(1)
    out = ["| seed | model | epochs | best epoch (lowest DRIVE/test loss) | its val loss / vessel Dice | wall time "
           "(train + per-epoch validation) | manifest.json SHA-256 | best.safetensors SHA-256 |",
           "|---:|---|---:|---:|---|---:|---|---|"]
    conv = ["| seed | model | window means of val vessel Dice x100 (last five) | gains | rule first held | holds at "
            "the end |", "|---:|---|---|---|---|---|"]
    for d, m, msha, records, bsha in runs:
        cfg = m.get("config", {})
        seed, mode = str(cfg.get("seed", "?")), MODE_NAMES.get(cfg.get("mode"), cfg.get("mode", "?"))
        b = best_epoch(records)
        minutes = sum(r.get("seconds", 0.0) for r in records) / 60.0
        out.append("| %s | %s | %d | %d | %.3f / %.3f | %.0f min | `%s` | %s |" % (
            seed, mode, len(records), b["epoch"], b["val_loss"], b["val_dice"], minutes, msha[:16],
            "`%s`" % bsha[:16] if bsha else "-"))
        means = windows(records)
        first = len(means) - min(5, len(means))
        labels = ["%.2f (%d-%d)" % (v, (k + 1) * WINDOW - 9, (k + 1) * WINDOW)
                  for k, v in enumerate(means) if k >= first]
        gains = ["%+.2f" % (means[k] - means[k - 1]) for k in range(max(1, first), len(means))]
        at = levelled_off(means)
        end = len(means) >= 3 and levelled_off(means[-3:]) is not None
        conv.append("| %s | %s | %s | %s | %s | %s |" % (
            seed, mode, ", ".join(labels) or "-", ", ".join(gains) or "-", "epoch %d" % at if at else "not yet",
            "yes" if end else "no"))
    print("\n".join(out))
    print()
    print("Convergence rule: ten-epoch window means of the validation vessel Dice gaining < %.1f points twice running."
          % GAIN)
    print()
    print("\n".join(conv))


if __name__ == "__main__":
    main(sys.argv[1:])
