// SPDX-License-Identifier: GPL-3.0-or-later
// The dashboard page's files, compiled into the binary (generated from sinks/dashboard/web/ by
// embed_assets.cmake at build time), so that the engine serves the page with no CDN and no files
// to install.
#pragma once

#include <span>
#include <string_view>

namespace stemflow::sinks {

struct WebAsset {
  std::string_view path;  // URL path, e.g. "/app.js"
  std::string_view mime;
  std::string_view data;
};

std::span<const WebAsset> web_assets();

}  // namespace stemflow::sinks
