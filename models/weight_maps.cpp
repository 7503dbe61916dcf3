#include "models/weight_maps.h"

#include <set>
#include <sstream>

#include "models/efficientnet.h"

namespace cq::models {

namespace {
struct Entry {
  std::string smp, src;
  Shape shape;
};

const char* kBnTensors[] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};

void add_conv(std::vector<Entry>& out, const std::string& smp, const std::string& src, Shape w, bool bias) {
  int64_t o = w[0];
  out.push_back({"encoder." + smp + ".weight", src + ".weight", std::move(w)});
  if (bias) out.push_back({"encoder." + smp + ".bias", src + ".bias", {o}});
}

void add_bn(std::vector<Entry>& out, const std::string& smp, const std::string& src, int64_t c) {
  for (const char* t : kBnTensors) {
    Shape s = std::string(t) == "num_batches_tracked" ? Shape{} : Shape{c};
    out.push_back({"encoder." + smp + "." + t, src + "." + t, s});
  }
}

// Source-name pieces of one MBConv block's layers in each naming.
struct BlockNames {
  std::string expand, bn0, dw, bn1, se_reduce, se_expand, project, bn2;
};

BlockNames block_names(EffNetNaming n, const MBConvConfig& c, int flat) {
  const bool ex = c.expand != 1;
  if (n == EffNetNaming::smp) {
    std::string p = "_blocks." + std::to_string(flat) + ".";
    return {p + "_expand_conv", p + "_bn0", p + "_depthwise_conv", p + "_bn1", p + "_se_reduce",
            p + "_se_expand", p + "_project_conv", p + "_bn2"};
  }
  if (n == EffNetNaming::torchvision) {
    // features.{stage+1}.{j}.block: [expand Conv2dNormActivation,] depthwise CNA, SqueezeExcitation, project CNA.
    std::string p = "features." + std::to_string(c.stage + 1) + "." + std::to_string(c.index_in_stage) + ".block.";
    int d = ex ? 1 : 0;
    auto at = [&](int i) { return p + std::to_string(i); };
    return {at(0) + ".0", at(0) + ".1", at(d) + ".0", at(d) + ".1", at(d + 1) + ".fc1", at(d + 1) + ".fc2",
            at(d + 2) + ".0", at(d + 2) + ".1"};
  }
  // timm: expand-1 blocks are DepthwiseSeparableConv (conv_dw, bn1, se, conv_pw, bn2), the others
  // InvertedResidual (conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3).
  std::string p = "blocks." + std::to_string(c.stage) + "." + std::to_string(c.index_in_stage) + ".";
  if (!ex) return {"", "", p + "conv_dw", p + "bn1", p + "se.conv_reduce", p + "se.conv_expand", p + "conv_pw", p + "bn2"};
  return {p + "conv_pw", p + "bn1", p + "conv_dw", p + "bn2", p + "se.conv_reduce", p + "se.conv_expand",
          p + "conv_pwl", p + "bn3"};
}

std::vector<Entry> entries(EffNetNaming n) {
  std::vector<Entry> out;
  const bool tv = n == EffNetNaming::torchvision, timm = n == EffNetNaming::timm;
  const int64_t stem = kEffB2StemChannels, head = kEffB2HeadChannels;
  add_conv(out, "_conv_stem", tv ? "features.0.0" : timm ? "conv_stem" : "_conv_stem", {stem, 3, 3, 3}, false);
  add_bn(out, "_bn0", tv ? "features.0.1" : timm ? "bn1" : "_bn0", stem);
  const auto& blocks = efficientnet_b2_blocks();
  for (size_t i = 0; i < blocks.size(); ++i) {
    const MBConvConfig& c = blocks[i];
    const BlockNames b = block_names(n, c, static_cast<int>(i));
    const std::string s = "_blocks." + std::to_string(i) + ".";
    const int64_t mid = c.expanded(), sq = c.squeezed();
    if (c.expand != 1) {
      add_conv(out, s + "_expand_conv", b.expand, {mid, c.in, 1, 1}, false);
      add_bn(out, s + "_bn0", b.bn0, mid);
    }
    add_conv(out, s + "_depthwise_conv", b.dw, {mid, 1, c.kernel, c.kernel}, false);
    add_bn(out, s + "_bn1", b.bn1, mid);
    add_conv(out, s + "_se_reduce", b.se_reduce, {sq, mid, 1, 1}, true);
    add_conv(out, s + "_se_expand", b.se_expand, {mid, sq, 1, 1}, true);
    add_conv(out, s + "_project_conv", b.project, {c.out, mid, 1, 1}, false);
    add_bn(out, s + "_bn2", b.bn2, c.out);
  }
  const int64_t last = blocks.back().out;
  add_conv(out, "_conv_head", tv ? "features.8.0" : timm ? "conv_head" : "_conv_head", {head, last, 1, 1}, false);
  add_bn(out, "_bn1", tv ? "features.8.1" : timm ? "bn2" : "_bn1", head);
  return out;
}

bool is_classifier_key(EffNetNaming n, const std::string& k) {
  switch (n) {
    case EffNetNaming::torchvision: return k.rfind("classifier.", 0) == 0;
    case EffNetNaming::timm: return k.rfind("classifier.", 0) == 0;
    case EffNetNaming::smp: return k.rfind("_fc.", 0) == 0;
  }
  return false;
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
}  // namespace

const char* effnet_naming_name(EffNetNaming n) {
  switch (n) {
    case EffNetNaming::smp: return "smp/lukemelas";
    case EffNetNaming::torchvision: return "torchvision";
    case EffNetNaming::timm: return "timm";
  }
  return "?";
}

std::vector<std::pair<std::string, std::string>> effnet_b2_name_pairs(EffNetNaming source) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& e : entries(source)) out.emplace_back(e.smp, e.src);
  return out;
}

EffNetNaming detect_effnet_b2_naming(const std::map<std::string, Tensor>& sd) {
  if (sd.count("features.0.0.weight")) return EffNetNaming::torchvision;
  if (sd.count("conv_stem.weight")) return EffNetNaming::timm;
  if (sd.count("_conv_stem.weight") || sd.count("encoder._conv_stem.weight")) return EffNetNaming::smp;
  fail("detect_effnet_b2_naming: none of features.0.0.weight (torchvision), conv_stem.weight (timm), "
       "_conv_stem.weight or encoder._conv_stem.weight (smp/lukemelas) is in the state dict (", sd.size(),
       " keys, first: ", sd.empty() ? std::string("none") : sd.begin()->first, ")");
}

MappedWeights map_effnet_b2_to_smp(const std::map<std::string, Tensor>& sd, EffNetNaming source) {
  // smp sources may carry the model's "encoder." prefix; strip it once so one table serves both.
  std::map<std::string, Tensor> src;
  for (const auto& kv : sd) {
    std::string k = kv.first;
    if (source == EffNetNaming::smp && k.rfind("encoder.", 0) == 0) k = k.substr(8);
    src[k] = kv.second;
  }
  MappedWeights out;
  std::vector<std::string> problems;
  std::set<std::string> used;
  for (const auto& e : entries(source)) {
    auto it = src.find(e.src);
    if (it == src.end()) {
      if (!ends_with(e.src, ".num_batches_tracked")) problems.push_back("missing " + e.src);
      continue;
    }
    used.insert(e.src);
    if (it->second.shape() != e.shape) {
      problems.push_back(e.src + " has shape " + shape_str(it->second.shape()) + ", EfficientNet-B2 needs " +
                         shape_str(e.shape));
      continue;
    }
    out.tensors[e.smp] = it->second;
  }
  for (const auto& kv : src) {
    if (used.count(kv.first)) continue;
    if (is_classifier_key(source, kv.first)) out.ignored.push_back(kv.first);
    else problems.push_back("unexpected " + kv.first);
  }
  if (!problems.empty()) {
    std::ostringstream os;
    os << "map_effnet_b2_to_smp (" << effnet_naming_name(source) << " names): " << problems.size()
       << " problem(s)";
    for (size_t i = 0; i < problems.size() && i < 12; ++i) os << "\n  " << problems[i];
    if (problems.size() > 12) os << "\n  ... " << problems.size() - 12 << " more";
    throw Error(os.str());
  }
  return out;
}

EffNetNaming load_effnet_b2_encoder(nn::Module& model, const std::map<std::string, Tensor>& sd) {
  EffNetNaming n = detect_effnet_b2_naming(sd);
  MappedWeights m = map_effnet_b2_to_smp(sd, n);
  nn::LoadReport rep = model.load_state_dict(m.tensors, /*strict=*/false);
  // Every mapped name must exist in the model; only non-encoder tensors (decoder, head) may stay unloaded.
  CQ_CHECK(rep.unexpected.empty(), "load_effnet_b2_encoder: the model has no tensor named '",
           rep.unexpected.empty() ? "" : rep.unexpected[0], "' (", rep.unexpected.size(),
           " such names; is it an smp Unet with an efficientnet-b2 encoder?)");
  return n;
}

}  // namespace cq::models
