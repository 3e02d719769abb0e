// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_SETTINGS_READER_HPP
#define TETRAPAK_LIB_SETTINGS_READER_HPP

#include <tetrapak/diagnostics.hpp>
#include <tetrapak/settings.hpp>

#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

#include "detail/text.hpp"

#include <algorithm>
#include <string_view>

namespace tetrapak::detail {

/// The entry of a map keyed by configured names whose key equals `name`
/// ignoring ASCII case, as .NET configuration keys compare.
template <class Map>
auto find_ci(Map& m, std::string_view name)
{
    return std::find_if(m.begin(), m.end(), [&](auto& kv) { return iequals(kv.first, name); });
}

/// Reads one "TetraPak" JSON section into `s`, key by key, over what is
/// already there. Errors name the key path (and `env_variable` when the
/// value came from the environment), never a value.
boost::system::error_code read_settings_section(tetrapak_settings& s, const boost::json::value& section,
                                                diagnostics& diag, std::string_view env_variable = {});

} // namespace tetrapak::detail

#endif
