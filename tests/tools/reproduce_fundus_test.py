#!/usr/bin/env python3
"""tools/reproduce_fundus.sh against a stub cqseg that records its calls and writes the files the real one writes:
per-model epoch counts, model selection, resume instead of a new run, evaluation skipped when newer than the
checkpoint, the archive of small files (with checkpoint hashes), and refusals of bad arguments before any work."""
import os
import subprocess
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "reproduce_fundus.sh")

# Writes what `cqseg train` / `cqseg eval` leave in their --out folder (train --resume: the folder given) and appends
# its arguments to $CALLS.
STUB = r"""#!/bin/bash
echo "$*" >> "$CALLS"
cmd=$1; shift
out=; resume=
while [ $# -gt 0 ]; do
  case $1 in --out) out=$2; shift;; --resume) resume=$2; shift;; esac
  shift
done
if [ "$cmd" = train ]; then
  d=${out:-$resume}
  mkdir -p "$d"
  echo '{"config":{"seed":"7"}}' > "$d/manifest.json"
  echo '{"epoch":1}' >> "$d/log.jsonl"
  echo '<svg/>' > "$d/loss_curve.svg"
  echo "weights of $d" > "$d/best.safetensors"
  echo "state of $d" > "$d/last.safetensors"
else
  mkdir -p "$out/overlays"
  echo '{"results":[]}' > "$out/metrics.json"
  echo '# report' > "$out/report.md"
  echo png > "$out/overlays/sheet.png"
fi
"""


class ReproduceFundusTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        self.stub = os.path.join(self.root, "cqseg")
        with open(self.stub, "w") as f:
            f.write(STUB)
        os.chmod(self.stub, 0o755)
        self.calls = os.path.join(self.root, "calls.txt")
        self.runs = os.path.join(self.root, "runs")

    def tearDown(self):
        self.tmp.cleanup()

    def run_script(self, *args, archive=None):
        env = dict(os.environ, CQSEG=self.stub, CALLS=self.calls, DATA="/data", THREADS="2")
        env.pop("ARCHIVE", None)
        if archive:
            env["ARCHIVE"] = archive
        p = subprocess.run(["bash", SCRIPT] + list(args), capture_output=True, text=True, env=env)
        return p.returncode, p.stderr

    def read_calls(self):
        if not os.path.exists(self.calls):
            return []
        with open(self.calls) as f:
            return f.read().splitlines()

    def test_epochs_per_model(self):
        rc, err = self.run_script("7", "base=3,aug=5,cqg=8", self.runs)
        self.assertEqual(rc, 0, err)
        train = [c for c in self.read_calls() if c.startswith("train")]
        self.assertEqual(len(train), 3)
        for mode, n in (("base", 3), ("aug", 5), ("cqg", 8)):
            call = [c for c in train if "--mode %s " % mode in c]
            self.assertEqual(len(call), 1, train)
            self.assertIn("--epochs %d " % n, call[0])
            self.assertIn("--seed 7 --threads 2", call[0])
            self.assertIn("--out %s/s7/%s " % (self.runs, mode), call[0])
        evals = [c for c in self.read_calls() if c.startswith("eval")]
        self.assertEqual(len(evals), 6)  # every model, all-pixel and lit-pixel statistics
        self.assertEqual(sum("--stats-threshold 10" in c for c in evals), 3)

    def test_one_count_for_all_and_model_subset(self):
        rc, err = self.run_script("0", "12", self.runs, "cqg")
        self.assertEqual(rc, 0, err)
        train = [c for c in self.read_calls() if c.startswith("train")]
        self.assertEqual(len(train), 1)
        self.assertIn("--mode cqg --size native --precise-bn --epochs 12 ", train[0])

    def test_second_call_resumes_and_skips_fresh_evaluations(self):
        self.assertEqual(self.run_script("1", "4", self.runs, "aug")[0], 0)
        os.remove(self.calls)
        rc, err = self.run_script("1", "9", self.runs, "aug")
        self.assertEqual(rc, 0, err)
        calls = self.read_calls()
        # The stub rewrites best.safetensors on resume, so both evaluations run again after it.
        self.assertEqual(calls[0], "train --resume %s/s1/aug --epochs 9 --threads 2 --quiet" % self.runs)
        self.assertEqual(len([c for c in calls if c.startswith("eval")]), 2)
        # A third call where the resume trains nothing (cqseg writes no file then) and the evaluations are newer
        # than the checkpoint: both are skipped.
        os.remove(self.calls)
        best = os.path.join(self.runs, "s1", "aug", "best.safetensors")
        for sub in ("eval_aug", "eval_lit_aug"):
            os.utime(os.path.join(self.runs, "s1", sub, "metrics.json"),
                     (os.path.getmtime(best) + 10, os.path.getmtime(best) + 10))
        with open(self.stub) as f:
            text = f.read()
        with open(self.stub, "w") as f:
            f.write(text.replace('if [ "$cmd" = train ]; then', 'if [ "$cmd" = train ] && [ -z "$resume" ]; then'))
        rc, err = self.run_script("1", "9", self.runs, "aug")
        self.assertEqual(rc, 0, err)
        self.assertEqual([c for c in self.read_calls() if c.startswith("eval")], [])

    def test_archive_holds_small_files_and_hashes(self):
        archive = os.path.join(self.root, "archive")
        rc, err = self.run_script("2", "3", self.runs, "base,cqg", archive=archive)
        self.assertEqual(rc, 0, err)
        for mode in ("base", "cqg"):
            run = os.path.join(archive, "s2", mode)
            self.assertEqual(sorted(os.listdir(run)),
                             ["SHA256SUMS", "log.jsonl", "loss_curve.svg", "manifest.json"])
            with open(os.path.join(run, "SHA256SUMS")) as f:
                sums = f.read()
            self.assertIn("  best.safetensors", sums)
            self.assertIn("  last.safetensors", sums)
            check = subprocess.run(["sha256sum", "-c", os.path.join(run, "SHA256SUMS")], capture_output=True,
                                   cwd=os.path.join(self.runs, "s2", mode))
            self.assertEqual(check.returncode, 0, check.stdout)
            for ev in ("eval_" + mode, "eval_lit_" + mode):
                self.assertEqual(sorted(os.listdir(os.path.join(archive, "s2", ev))), ["metrics.json", "report.md"])
        self.assertFalse(os.path.exists(os.path.join(archive, "s2", "aug")))

    def test_bad_arguments_are_refused_before_any_work(self):
        for args, message in ((("0", "base=3,aug=5", self.runs), "no count for 'cqg'"),
                              (("0", "3", self.runs, "base,unet"), "unknown mode 'unet'"),
                              (("0", "aug=x", self.runs, "aug"), "no count for 'aug'")):
            rc, err = self.run_script(*args)
            self.assertNotEqual(rc, 0)
            self.assertIn(message, err)
        self.assertEqual(self.read_calls(), [])
        self.assertFalse(os.path.exists(self.runs))


if __name__ == "__main__":
    unittest.main()
