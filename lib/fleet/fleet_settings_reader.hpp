// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_FLEET_FLEET_SETTINGS_READER_HPP
#define TETRAPAK_LIB_FLEET_FLEET_SETTINGS_READER_HPP

// The "Fleet" section of the TetraPak configuration:
//   RedisUrl, Username, Password, KeyPrefix, Keys, KeyFile, CaFile (strings),
//   ShareRefreshTokens (bool), ConnectTimeoutMs, CommandTimeoutMs, LockTtlMs,
//   MaxWaitMs (whole milliseconds, numbers or digit strings as environment
//   variables give them).

#include <tetrapak/fleet.hpp>

#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

#include <string>

namespace tetrapak::detail {

/// Reads `v` (the section at `path`) into `out`. On a wrong value or an
/// unknown key: error::config_invalid_value, with `bad_path` set to the key's
/// path (never its value).
boost::system::error_code read_fleet_section(fleet_settings& out, const boost::json::value& v, const std::string& path,
                                             std::string& bad_path);

} // namespace tetrapak::detail

#endif
