// Pictures of segmentations: class colours, overlays and the side-by-side sheets of `cqseg eval`.
//
// Palette (the authors' code publishes no colour table, so this one is ours, fixed and documented): class 0
// (background) black, 1 red (255,0,0), 2 green (0,255,0), 3 blue (0,0,255), 4 yellow (255,255,0), then 5 cyan,
// 6 magenta, 7 orange (255,128,0), 8 purple (128,0,255), 9 white; classes >= 10 get a fixed hash colour.
// Overlay: every non-background pixel becomes 0.5 * image + 0.5 * class colour (rounded); background pixels keep the
// image, so the anatomy around the prediction stays visible.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "data/image_io.h"

namespace cq::pipeline {

std::array<uint8_t, 3> class_color(int c);
// 1-channel class map -> RGB picture of the palette colours.
data::Image colorize_mask(const data::Image& mask);
// RGB image + class map of the same size -> blended RGB (alpha = weight of the class colour).
data::Image overlay_mask(const data::Image& rgb, const data::Image& mask, double alpha = 0.5);

// Rows of RGB tiles -> one picture: every tile scaled (bicubic) to tile_h rows keeping its aspect ratio, columns as
// wide as their widest tile, gap pixels of grey (64) between tiles and around the edge. Rows may differ in length.
data::Image compose_sheet(const std::vector<std::vector<data::Image>>& rows, int tile_h = 160, int gap = 4);

}  // namespace cq::pipeline
