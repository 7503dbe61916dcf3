#!/usr/bin/python3
"""Builds the tables of docs/PERFORMANCE.md from tools/perf_report.sh's raw results.
Usage: perf_tables.py DIR [--doc docs/PERFORMANCE.md]
Reads DIR/cq_<family>.json (Google Benchmark, median aggregates), DIR/peer_<family>.jsonl (bench/peers/torch_micro.py),
DIR/peer_<family>.txt (the shared OpenCV/numpy peers) and DIR/e2e/bench.json (cqseg bench); writes DIR/tables.md and,
with --doc, replaces the text between <!-- perf:begin --> and <!-- perf:end --> in the doc. When the microbenchmarks
ran in rounds (perf_report.sh --rounds: DIR/round1, round2, ...), each time is the median over the rounds and each
ratio the median of the per-round ratios (ours and the peer of one round ran minutes apart, not an hour)."""
import argparse, collections, glob, json, os, re, statistics, subprocess

PEAK_PER_THREAD = float(os.environ.get("CQ_PEAK_GFLOPS_PER_THREAD", "117"))  # issue #6: 234 GFLOP/s for 2 threads
DRAM_GBPS = 31.0


def machine():
    try:
        ls = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
    except OSError:
        ls = ""
    get = lambda k: next((l.split(":", 1)[1].strip() for l in ls.splitlines() if l.startswith(k + ":")), "?")
    flags = get("Flags").split()
    simd = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_tile") if f in flags)
    return (f"- CPU: {get('Model name')} ({get('Vendor ID')}), {get('CPU(s)')} logical CPUs, "
            f"{get('Thread(s) per core')} thread(s) per core; L2 {get('L2 cache')}, L3 {get('L3 cache')}\n"
            f"- SIMD: {simd}\n"
            f"- Roofline: FP32 peak {PEAK_PER_THREAD:.0f} GFLOP/s per thread ({2 * PEAK_PER_THREAD:.0f} for 2 threads, "
            f"the issue's figure), DRAM about {DRAM_GBPS:.0f} GB/s\n")


def ours(d):
    """{benchmark run_name: median entry} over every cq_*.json."""
    out = {}
    order = ["gemm", "conv3x3", "conv1x1", "depthwise", "bnact", "loss", "adam", "dcin", "hist", "gris"]
    rank = lambda f: (order.index(os.path.basename(f)[3:-5]) if os.path.basename(f)[3:-5] in order else 99, f)
    for f in sorted(glob.glob(os.path.join(d, "cq_*.json")), key=rank):
        try:
            js = json.load(open(f))
        except (OSError, ValueError):
            continue
        for b in js.get("benchmarks", []):
            if b.get("aggregate_name", "median") == "median" and b.get("run_type") in ("aggregate", None, "iteration"):
                out.setdefault(b["run_name"], b)
    return out


def peers(d):
    """{key: best peer line} from the torch_micro JSON lines (lib 'best:...')."""
    out = {}
    for f in glob.glob(os.path.join(d, "peer_*.jsonl")):
        for line in open(f):
            try:
                p = json.loads(line)
            except ValueError:
                continue
            if p["lib"].startswith("best:"):
                out[p["key"]] = p
    return out


def text_peer(d, fam, pattern, scale=1.0):
    """Median of the first line of DIR/peer_<fam>.txt matching pattern (common.row format), in ms."""
    try:
        for line in open(os.path.join(d, f"peer_{fam}.txt")):
            if re.search(pattern, line):
                m = re.search(r"median\s+([0-9.]+)", line)
                if m:
                    return float(m.group(1)) * scale
    except OSError:
        pass
    return None


def ms(b):
    t = b["real_time"]
    return t * {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b.get("time_unit", "ns")]


def peer_key(name):
    """Our benchmark name -> (torch_micro key, target speed ratio or None)."""
    m = re.match(r"BM_Sgemm/M:(\d+)/N:(\d+)/K:(\d+)/threads:(\d+)", name)
    if m:
        return "sgemm/" + "/".join(m.groups()), 0.95
    bwd = "bwd:1" in name
    if name.startswith("BM_Conv3x3_64x256"):
        return "conv3x3_" + ("fwdbwd" if bwd else "fwd"), 1.0
    m = re.match(r"BM_Conv1x1/cin:(\d+)/cout:(\d+)/hw:(\d+)", name)
    if m:
        return f"conv1x1_{'fwdbwd' if bwd else 'fwd'}/{'/'.join(m.groups())}", None
    # The peer times depthwise 3x3 stride 1 on 1x192x128x128 only: pair exactly that shape; the EfficientNet shapes
    # of bench/conv_bench.cpp (BM_Depthwise/..., BM_DepthwiseFwdBwd/...) have no peer.
    m = re.match(r"BM_Depthwise3x3(FwdBwd)?/192/128/3/1", name)
    if m:
        return "dw3x3_" + ("fwdbwd" if m.group(1) else "fwd"), 1.0
    if re.search(r"Depthwise|Dw", name):
        return None, None
    m = re.match(r"BM_BatchNormAct/act:(\d)/bwd:(\d)", name)
    if m:
        return f"bn_{'silu' if m.group(1) == '0' else 'relu'}_{'fwdbwd' if m.group(2) == '1' else 'fwd'}", None
    if name.startswith("BM_DcLoss"):
        return "dc_loss_" + ("fwdbwd" if bwd else "fwd"), None
    if name.startswith("BM_AdamUnet"):
        return "adam_unet", None
    return None, None


def f1(x, p=1):
    return "-" if x is None else f"{x:.{p}f}"


def round_dirs(d):
    """The rounds' folders (perf_report.sh --rounds), or d itself for a single round."""
    rs = sorted(glob.glob(os.path.join(d, "round[0-9]*")), key=lambda r: int(re.sub(r"\D", "", os.path.basename(r))))
    return rs or [d]


def other_peers(d):
    """The shared OpenCV / numpy peers of one round: {our benchmark name: (label, ms or None)}."""
    return {
        "BM_ColorTransfer/0/0": ("OpenCV l-alpha-beta", text_peer(d, "dcin", r"reinhard_lab opencv")),
        "BM_Hist8x8x8": ("cv2.calcHist", text_peer(d, "hist", r"calchist per image")),
        "BM_Gris/16000": ("numpy sgemm in place", text_peer(d, "gris", r"gris gemm_inplace", 1e3)),
    }


def peer_of(short, p, other):
    """(label, median ms, GFLOP/s) of the peer of benchmark `short` in one round, or Nones."""
    key, _ = peer_key(short)
    if key and key in p:
        return p[key]["lib"][5:], p[key]["median_ms"], p[key].get("gflops")
    for k, v in other.items():  # the shared peers, matched by name prefix (BM_Gris/16000 runs as .../iterations:3)
        if (short == k or short.startswith(k + "/")) and v[1] is not None:
            return v[0], v[1], None
    return None, None, None


def micro_table(d):
    rounds = [(ours(r), peers(r), other_peers(r)) for r in round_dirs(d)]
    rows = ["| benchmark | cqseg ms | cqseg GFLOP/s | roofline | peer | peer ms | peer GFLOP/s | speed vs peer | "
            "target | met |", "|---|---|---|---|---|---|---|---|---|---|"]
    names = list(dict.fromkeys(n for o, _, _ in rounds for n in o))
    for name in names:
        short = re.sub(r"/real_time$", "", name)
        b = next(o[name] for o, _, _ in rounds if name in o)
        ts, pts, ratios, labels, pgfs = [], [], [], [], []
        for o, p, other in rounds:
            if name not in o:
                continue
            t = ms(o[name])
            ts.append(t)
            plib, pms, pgf = peer_of(short, p, other)
            if pms:
                pts.append(pms)
                ratios.append(pms / t)
                labels.append(plib)
                if pgf:
                    pgfs.append(pgf * pms)  # GFLOP/s x ms: the work, to rescale to the median time below
        t = statistics.median(ts)
        scale = ms(b) / t  # rates at the median time
        gf = b.get("GFLOPs") * scale if b.get("GFLOPs") else None
        if gf:
            roof = f"{100 * b.get('peak_frac', 0) * scale:.0f}% of FP32 peak"
        elif b.get("GBps_min"):
            roof = f"{100 * b['GBps_min'] * scale / DRAM_GBPS:.0f}% of DRAM BW (min traffic)"
        else:
            roof = "-"
        _, target = peer_key(short)
        pms = statistics.median(pts) if pts else None
        pgf = pgfs[0] / pms if pgfs and pms else None
        plib = collections.Counter(labels).most_common(1)[0][0] if labels else None
        ratio = statistics.median(ratios) if ratios else None
        met = "-" if target is None or ratio is None else ("yes" if ratio >= target else "**no**")
        spread = f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
        rows.append(f"| {short} | {f1(t, 2)} | {f1(gf)} | {roof} | {plib or '-'} | {f1(pms, 2)} | {f1(pgf)} | "
                    f"{f1(ratio, 2) + 'x' + spread if ratio else '-'} | {'>= ' + str(target) + 'x' if target else '-'} "
                    f"| {met} |")
    used = {peer_key(re.sub(r"/real_time$", "", n))[0] for n in names}
    p = rounds[-1][1]
    for key, pl in sorted(p.items()):  # peers whose cqseg benchmark is not in this build (e.g. depthwise)
        if key not in used:
            rows.append(f"| ({key}: no cqseg benchmark) | - | - | - | {pl['lib'][5:]} | {f1(pl['median_ms'], 2)} | "
                        f"{f1(pl.get('gflops'))} | - | - | - |")
    note = (f"\n{len(rounds)} rounds per family, ours and the peer alternating: times are medians over the rounds, "
            "speed vs peer the median of the per-round ratios (their range in brackets).\n" if len(rounds) > 1 else "")
    return "\n".join(rows) + "\n" + note


E2E_TARGETS = {"unet_train_base": 1.0, "unet_train_cqg": 1.0, "unet_eval": 0.8, "swin_embed": 1.0}


def e2e_table(d):
    try:
        js = json.load(open(os.path.join(d, "e2e", "bench.json")))
    except (OSError, ValueError):
        return "(no cqseg bench results)\n"
    rows = ["| item | cqseg median ms | peer median ms | time ratio cqseg/peer | target | met (time, RSS) | cqseg peak RSS MiB | "
            "peer peak RSS MiB |", "|---|---|---|---|---|---|---|---|"]
    for it in js["items"]:
        c = it["cqseg"]
        best = next((p for p in it["peers"] if p["label"] == it.get("peer_best")), None)
        r = it.get("ratio")
        tgt = E2E_TARGETS.get(it["item"])
        met = "-" if tgt is None or r is None else ("yes" if r <= tgt else "**no**")
        if it["item"].startswith("unet_train") and best:  # issue #6: a training step's peak memory <= PyTorch's
            met += ", RSS " + ("yes" if c["peak_rss_mib"] <= best["peak_rss_mib"] else "**no**")
        pm = f"{best['median_ms']:.1f} ({best['label']})" if best else "-"
        rows.append(f"| {it['item']} | {f1(c['median_ms'])} | {pm} | {f1(r, 2)} | "
                    f"{'<= ' + str(tgt) if tgt else '-'} | {met} | {f1(c['peak_rss_mib'], 0)} | "
                    f"{f1(best['peak_rss_mib'], 0) if best else '-'} |")
    desc = "\n".join(f"- {it['item']}: {it['description']}" for it in js["items"])
    return "\n".join(rows) + "\n\n" + desc + f"\n\n{js['threads']} threads, medians of {js['reps']}; peer: {js['peer']}.\n"


def main():
    a = argparse.ArgumentParser()
    a.add_argument("dir"); a.add_argument("--doc")
    o = a.parse_args()
    text = ("### Machine\n\n" + machine() + "\n### Microbenchmarks (cq_bench vs bench/peers/torch_micro.py)\n\n" +
            micro_table(o.dir) + "\nspeed vs peer = peer median time / cqseg median time (above 1: cqseg faster). "
            "Peer = the fastest of its variants (GEMM: the OpenBLAS core type whose samples, numpy and torch.mm pooled, "
            "have the lowest median; convolutions and BN: channels_last or NCHW; Adam: foreach on or off).\n\n### End to end (cqseg bench)\n\n" +
            e2e_table(o.dir))
    open(os.path.join(o.dir, "tables.md"), "w").write(text)
    if o.doc:
        doc = open(o.doc).read()
        b, e = "<!-- perf:begin -->", "<!-- perf:end -->"
        if b not in doc or e not in doc:
            raise SystemExit(f"{o.doc}: markers {b} / {e} not found")
        doc = doc[:doc.index(b) + len(b)] + "\n" + text + doc[doc.index(e):]
        open(o.doc, "w").write(doc)


if __name__ == "__main__":
    main()
