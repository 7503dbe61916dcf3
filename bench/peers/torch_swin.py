#!/usr/bin/python3
"""Peer timing for the LRIS embedder: torchvision swin_v2_t forward (pooled features, eval, no grad) at batch 1.
Usage: torch_swin.py [--threads 2] [--hw 256] [--reps 5]. Prints: median / min / max milliseconds."""
import argparse, statistics, time
import torch, torchvision

def main():
    a = argparse.ArgumentParser()
    a.add_argument("--threads", type=int, default=2); a.add_argument("--hw", type=int, default=256)
    a.add_argument("--reps", type=int, default=5)
    o = a.parse_args()
    torch.set_num_threads(o.threads); torch.manual_seed(0)
    m = torchvision.models.swin_v2_t().eval()
    m.head = torch.nn.Identity()  # pooled embedding, as cqseg's embed()
    x = torch.randn(1, 3, o.hw, o.hw)
    with torch.no_grad():
        m(x)  # warm-up
        ts = []
        for _ in range(o.reps):
            t = time.perf_counter(); m(x); ts.append((time.perf_counter() - t) * 1e3)
    print(f"median_ms {statistics.median(ts):.1f} min {min(ts):.1f} max {max(ts):.1f}")

if __name__ == "__main__":
    main()
