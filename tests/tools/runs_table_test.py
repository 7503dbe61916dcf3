#!/usr/bin/env python3
"""tools/runs_table.py on synthetic run folders: the runs-table row (best epoch, wall time, hashes from the files
and from SHA256SUMS), the ten-epoch-window convergence rule (levelling off, and rising again after it), and errors
that name the folder and the problem."""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "runs_table.py")


def write_run(root, name, mode, seed, dice, sums=None, checkpoint=None):
    """A run folder whose epoch e has validation vessel Dice dice[e-1], loss 1 - dice (lowest at the best Dice)."""
    d = os.path.join(root, name)
    os.makedirs(d)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump({"config": {"seed": str(seed), "mode": mode}}, f)
    best = 2.0
    with open(os.path.join(d, "log.jsonl"), "w") as f:
        for e, v in enumerate(dice, 1):
            loss = 1.0 - v
            f.write(json.dumps({"epoch": e, "val_loss": loss, "val_dice": v, "seconds": 30.0, "best": loss < best})
                    + "\n")
            best = min(best, loss)
    if sums is not None:
        with open(os.path.join(d, "SHA256SUMS"), "w") as f:
            f.write(sums)
    if checkpoint is not None:
        with open(os.path.join(d, "best.safetensors"), "wb") as f:
            f.write(checkpoint)
    return d


def run_tool(dirs):
    p = subprocess.run([sys.executable, TOOL] + dirs, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class RunsTableTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_row_from_log_and_hashes(self):
        # Rises to 0.80 at epoch 25, then falls: best epoch 25; 40 epochs of 30 s = 20 min.
        dice = [0.5 + 0.012 * e for e in range(1, 26)] + [0.79] * 15
        d = write_run(self.root, "aug", "aug", 3, dice, sums="%s  best.safetensors\n%s  last.safetensors\n" %
                      ("ab" * 32, "cd" * 32))
        rc, out, err = run_tool([d])
        self.assertEqual(rc, 0, err)
        self.assertIn("| 3 | S_aug | 40 | 25 | 0.200 / 0.800 | 20 min | `%s` | `%s` |" %
                      (sha(os.path.join(d, "manifest.json"))[:16], "ab" * 8), out)

    def test_checkpoint_hashed_without_sums(self):
        d = write_run(self.root, "base", "base", 0, [0.5, 0.6], checkpoint=b"weights")
        rc, out, err = run_tool([d])
        self.assertEqual(rc, 0, err)
        self.assertIn("`%s` |" % hashlib.sha256(b"weights").hexdigest()[:16], out)
        rc, out, err = run_tool([write_run(self.root, "cqg", "cqg", 0, [0.5, 0.6])])
        self.assertEqual(rc, 0, err)
        self.assertIn("| 0 | S_CQG | 2 | 2 | 0.400 / 0.600 | 1 min | `", out)
        self.assertTrue(out.splitlines()[2].endswith("| - |"))

    def test_convergence_rule(self):
        # Window means 50, 60, 70, 70.05, 70.1, 70.12: gains 10, 10, 0.05, 0.05, 0.02 -> held at epoch 50.
        means = [0.50, 0.60, 0.70, 0.7005, 0.7010, 0.7012]
        d = write_run(self.root, "flat", "cqg", 1, [m for m in means for _ in range(10)])
        # Same until 50, then +0.5 and +0.5: held first at 50, not at the end.
        means2 = [0.50, 0.60, 0.70, 0.7005, 0.7010, 0.7060, 0.7110]
        d2 = write_run(self.root, "rises", "aug", 1, [m for m in means2 for _ in range(10)])
        # Rising by 0.2 each window: never.
        d3 = write_run(self.root, "never", "base", 1, [0.5 + 0.002 * (e // 10) for e in range(50)] + [0.5] * 5)
        rc, out, err = run_tool([d, d2, d3])
        self.assertEqual(rc, 0, err)
        self.assertIn("| 1 | S_CQG | 60.00 (11-20), 70.00 (21-30), 70.05 (31-40), 70.10 (41-50), 70.12 (51-60) | "
                      "+10.00, +10.00, +0.05, +0.05, +0.02 | epoch 50 | yes |", out)
        self.assertIn("| +10.00, +0.05, +0.05, +0.50, +0.50 | epoch 50 | no |", out)
        self.assertIn("| 1 | S_base | 50.00 (1-10), 50.20 (11-20), 50.40 (21-30), 50.60 (31-40), 50.80 (41-50) | "
                      "+0.20, +0.20, +0.20, +0.20 | not yet | no |", out)

    def test_errors_name_the_folder(self):
        rc, out, err = run_tool([os.path.join(self.root, "missing")])
        self.assertNotEqual(rc, 0)
        self.assertIn("missing: cannot read manifest.json", err)
        d = write_run(self.root, "gap", "aug", 0, [0.5, 0.6, 0.7])
        with open(os.path.join(d, "log.jsonl")) as f:
            lines = f.read().splitlines()
        with open(os.path.join(d, "log.jsonl"), "w") as f:
            f.write("\n".join([lines[0], lines[2]]) + "\n")
        rc, out, err = run_tool([d])
        self.assertNotEqual(rc, 0)
        self.assertIn("log.jsonl line 2 is epoch 3, expected 2", err)


if __name__ == "__main__":
    unittest.main()
