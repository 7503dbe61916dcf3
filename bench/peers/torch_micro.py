#!/usr/bin/python3
"""Peers of cq_bench's microbenchmarks (bench/*_bench.cpp), one JSON object per line on stdout:
  {"key": ..., "lib": ..., "median_ms": ..., "min_ms": ..., "gflops": ..., ...}
Keys (the same work as the cq_bench benchmark named in brackets):
  sgemm/M/N/K/threads     [BM_Sgemm]  numpy float32 matmul (OpenBLAS sgemm) and torch.mm, each OpenBLAS core type
                          in --coretypes (OPENBLAS_CORETYPE; "default" = OpenBLAS's own pick), in a child process per
                          (core type, threads) with OPENBLAS_NUM_THREADS=threads; then one "best" line per shape:
                          the core type whose samples (both front ends pooled) have the lowest median.
  conv3x3_fwd / conv3x3_fwdbwd     [BM_Conv3x3_64x256]  64->64 on 1x64x256x256, channels_last and nchw
  conv1x1_fwd/CIN/COUT/HW, conv1x1_fwdbwd/...  [BM_Conv1x1]  batch 2
  dw3x3_fwd / dw3x3_fwdbwd         [the depthwise benchmark of bench/conv_bench.cpp]  192 channels on 1x192x128x128
  bn_silu_fwd, bn_silu_fwdbwd, bn_relu_fwd, bn_relu_fwdbwd  [BM_BatchNormAct]  training-mode BN on 1x192x128x128
  dc_loss_fwd / dc_loss_fwdbwd     [BM_DcLoss]  softmax + CE + squared Dice on [2,5,256,256]
  adam_unet                        [BM_AdamUnet]  torch.optim.Adam over the peer U-Net (foreach off and on)
The layout variants print one line each; "best" lines carry the faster one. Convolution figures are oneDNN (mkldnn).
Usage: torch_micro.py [--threads 2] [--gemm-threads 1,2] [--reps 10] [--only REGEX] [--coretypes default,Haswell,...]
Needs Debian's python3-torch, python3-torchvision and python3-numpy; the U-Net comes from the shared peers
(torch_unet.py in $CQ_SHARED/peers, else ../../../shared/peers from this file)."""
import argparse, json, os, re, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
GEMM_SHAPES = [(64, 16384, 576), (256, 1024, 2304), (256, 256, 256), (512, 512, 512), (1024, 1024, 1024),
               (2048, 2048, 2048)]


def shared_peers():
    root = os.environ.get("CQ_SHARED") or os.path.join(HERE, "..", "..", "..", "shared")
    return os.path.join(root, "peers")


def timeit(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append((time.perf_counter() - t) * 1e3)
    return ts


def emit(key, lib, ts, flops=None, samples=False, **extra):
    d = {"key": key, "lib": lib, "median_ms": round(statistics.median(ts), 4), "min_ms": round(min(ts), 4),
         "reps": len(ts)}
    if samples:
        d["samples_ms"] = [round(t, 4) for t in ts]
    if flops:
        d["gflops"] = round(flops / statistics.median(ts) * 1e-6, 2)
    d.update(extra)
    print(json.dumps(d), flush=True)
    return d


# ---------------------------------------------------------------- GEMM (child process per core type and threads)
def gemm_worker(o):
    import numpy as np
    import torch
    torch.set_num_threads(o.worker_threads)
    ct = os.environ.get("OPENBLAS_CORETYPE", "default")
    rng = np.random.default_rng(0)
    for (M, N, K) in GEMM_SHAPES:
        if not o.only_re.search(f"sgemm/{M}/{N}/{K}/{o.worker_threads}"):
            continue
        a = rng.standard_normal((M, K), dtype=np.float32); b = rng.standard_normal((K, N), dtype=np.float32)
        c = np.empty((M, N), np.float32)
        reps = max(5, min(o.reps, int(2e10 / (2 * M * N * K))))  # big squares: fewer reps (at least 5)
        key = f"sgemm/{M}/{N}/{K}/{o.worker_threads}"
        emit(key, "numpy-openblas", timeit(lambda: np.matmul(a, b, out=c), reps), 2.0 * M * N * K, samples=True,
             coretype=ct)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b); tc = torch.empty(M, N)
        emit(key, "torch.mm", timeit(lambda: torch.mm(ta, tb, out=tc), reps), 2.0 * M * N * K, samples=True,
             coretype=ct)


def gemm_peers(o):
    # The best OpenBLAS kernel is the core type (OPENBLAS_CORETYPE selects the kernel; numpy.matmul and torch.mm call
    # the same sgemm) whose samples, both front ends pooled, have the lowest median. Not the lowest of the separate
    # medians: with 4 core types x 2 front ends that would be a minimum over up to 8 noisy medians of the same kernel,
    # which biases the peer's time low by the machine's noise alone.
    pooled = {}
    for t in o.gemm_threads:
        for ct in o.coretypes:
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t))
            env.pop("OPENBLAS_CORETYPE", None)
            if ct != "default":
                env["OPENBLAS_CORETYPE"] = ct
            cmd = [sys.executable, os.path.abspath(__file__), "--gemm-worker", str(t), "--reps", str(o.reps),
                   "--only", o.only]
            r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
            for line in r.stdout.splitlines():
                print(line, flush=True)
                d = json.loads(line)
                p = pooled.setdefault((d["key"], d["coretype"]), {"d": d, "ts": [], "libs": {}})
                p["ts"] += d["samples_ms"]
                p["libs"][d["lib"]] = d["median_ms"]
    best = {}
    for (key, ct), p in pooled.items():
        med = statistics.median(p["ts"])
        if key not in best or med < best[key][0]:
            best[key] = (med, ct, p)
    for key, (med, ct, p) in best.items():
        flops = p["d"]["gflops"] * p["d"]["median_ms"] * 1e6
        print(json.dumps({"key": key, "lib": "best:openblas/" + ct, "median_ms": round(med, 4),
                          "min_ms": round(min(p["ts"]), 4), "reps": len(p["ts"]),
                          "gflops": round(flops / med * 1e-6, 2), "coretype": ct,
                          "front_end_medians_ms": p["libs"]}), flush=True)


# ---------------------------------------------------------------- ops (this process)
class Best:
    """Collects the layout variants of one key and prints the faster as lib 'best'."""
    def __init__(self):
        self.d = {}

    def add(self, d):
        k = d["key"]
        if k not in self.d or d["median_ms"] < self.d[k]["median_ms"]:
            self.d[k] = d

    def flush(self):
        for d in self.d.values():
            print(json.dumps(dict(d, lib="best:" + d["lib"])), flush=True)
        self.d = {}


def conv_case(o, best, key, n, cin, cout, hw, k, groups):
    import torch
    flops = 2.0 * n * cout * (cin // groups) * k * k * hw * hw
    for layout, fmt in (("nhwc", torch.channels_last), ("nchw", torch.contiguous_format)):
        x = torch.randn(n, cin, hw, hw).to(memory_format=fmt)
        w = (torch.randn(cout, cin // groups, k, k) / (cin // groups * k * k)).to(memory_format=fmt)
        g = torch.randn(n, cout, hw, hw).to(memory_format=fmt)
        pad = k // 2
        if o.only_re.search(key.replace("*", "fwd")):
            def fwd():
                with torch.no_grad():
                    torch.nn.functional.conv2d(x, w, None, 1, pad, 1, groups)
            best.add(emit(key.replace("*", "fwd"), "torch-" + layout, timeit(fwd, o.reps), flops))
        if o.only_re.search(key.replace("*", "fwdbwd")):
            xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()

            def fwdbwd():
                xg.grad = None; wg.grad = None
                torch.nn.functional.conv2d(xg, wg, None, 1, pad, 1, groups).backward(g)
            best.add(emit(key.replace("*", "fwdbwd"), "torch-" + layout, timeit(fwdbwd, o.reps), 3 * flops))
    best.flush()


def ops_peers(o):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(o.threads); torch.manual_seed(0)
    best = Best()
    conv_case(o, best, "conv3x3_*", 1, 64, 64, 256, 3, 1)
    for cin, cout, hw in ((24, 144, 64), (144, 24, 64), (88, 528, 16)):
        conv_case(o, best, f"conv1x1_*/{cin}/{cout}/{hw}", 2, cin, cout, hw, 1, 1)
    conv_case(o, best, "dw3x3_*", 1, 192, 192, 128, 3, 192)

    for act_name, act in (("silu", F.silu), ("relu", F.relu)):
        for layout, fmt in (("nhwc", torch.channels_last), ("nchw", torch.contiguous_format)):
            x = torch.randn(1, 192, 128, 128).to(memory_format=fmt); g = torch.randn_like(x)
            w, b = torch.ones(192), torch.zeros(192); rm, rv = torch.zeros(192), torch.ones(192)
            key = f"bn_{act_name}_fwd"
            if o.only_re.search(key):
                def fwd():
                    with torch.no_grad():
                        act(F.batch_norm(x, rm, rv, w, b, True, 0.1, 1e-5))
                best.add(emit(key, "torch-" + layout, timeit(fwd, o.reps)))
            key = f"bn_{act_name}_fwdbwd"
            if o.only_re.search(key):
                xg, wg, bg = x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()

                def fwdbwd():
                    xg.grad = wg.grad = bg.grad = None
                    act(F.batch_norm(xg, rm, rv, wg, bg, True, 0.1, 1e-5)).backward(g)
                best.add(emit(key, "torch-" + layout, timeit(fwdbwd, o.reps)))
        best.flush()

    sys.path.insert(0, shared_peers())
    try:
        import torch_unet
    except ImportError as e:
        print(f"# torch_micro: no torch_unet.py in {shared_peers()} ({e}); skipping dc_loss and adam", file=sys.stderr)
        return
    logits = torch.randn(2, 5, 256, 256); y = torch.randint(0, 5, (2, 256, 256))
    if o.only_re.search("dc_loss_fwd"):
        def fwd():
            with torch.no_grad():
                torch_unet.dice_ce(logits, y)
        best.add(emit("dc_loss_fwd", "torch", timeit(fwd, o.reps)))
    if o.only_re.search("dc_loss_fwdbwd"):
        lg = logits.clone().requires_grad_()

        def fwdbwd():
            lg.grad = None
            torch_unet.dice_ce(lg, y).backward()
        best.add(emit("dc_loss_fwdbwd", "torch", timeit(fwdbwd, o.reps)))
    best.flush()
    if o.only_re.search("adam_unet"):
        m = torch_unet.UNet(5)
        n = sum(p.numel() for p in m.parameters())
        for p in m.parameters():
            p.grad = torch.randn_like(p) * 1e-3
        for foreach in (False, True):
            opt = torch.optim.Adam(m.parameters(), 1e-3, foreach=foreach)
            best.add(emit("adam_unet", f"torch-foreach={int(foreach)}", timeit(opt.step, o.reps), params=n))
        best.flush()


def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--threads", type=int, default=2, help="threads of the non-GEMM ops [2]")
    a.add_argument("--gemm-threads", default="1,2", help="thread counts of the GEMM peers [1,2]")
    a.add_argument("--reps", type=int, default=10, help="timed repetitions after 2 warm-ups [10]")
    a.add_argument("--only", default="", help="regex over the keys to run [all]")
    a.add_argument("--coretypes", default="default,Haswell,SkylakeX,Zen",
                   help="OPENBLAS_CORETYPE values for the GEMM peers [default,Haswell,SkylakeX,Zen]")
    a.add_argument("--gemm-worker", type=int, dest="worker_threads", help=argparse.SUPPRESS)
    o = a.parse_args()
    o.only_re = re.compile(o.only)
    o.gemm_threads = [int(t) for t in o.gemm_threads.split(",") if t]
    o.coretypes = [c for c in o.coretypes.split(",") if c]
    if o.worker_threads:
        return gemm_worker(o)
    if any(o.only_re.search(f"sgemm/{M}/{N}/{K}/{t}") for (M, N, K) in GEMM_SHAPES for t in o.gemm_threads):
        gemm_peers(o)
    ops_peers(o)


if __name__ == "__main__":
    main()
