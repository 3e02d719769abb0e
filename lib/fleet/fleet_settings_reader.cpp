// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "fleet_settings_reader.hpp"

#include "../detail/text.hpp"

#include <tetrapak/error.hpp>

#include <charconv>
#include <optional>

namespace tetrapak::detail {
namespace {

std::optional<std::string> text_of(const boost::json::value& v)
{
    if (!v.is_string())
        return std::nullopt;
    return std::string(v.get_string());
}

std::optional<bool> flag_of(const boost::json::value& v)
{
    if (v.is_bool())
        return v.get_bool();
    if (auto s = text_of(v)) {
        if (iequals(trim(*s), "true"))
            return true;
        if (iequals(trim(*s), "false"))
            return false;
    }
    return std::nullopt;
}

/// 1 ms .. 10 min, as a number or digits.
std::optional<std::chrono::milliseconds> millis_of(const boost::json::value& v)
{
    std::int64_t n = -1;
    if (v.is_int64()) {
        n = v.get_int64();
    } else if (v.is_uint64()) {
        n = static_cast<std::int64_t>(std::min<std::uint64_t>(v.get_uint64(), 1u << 30));
    } else if (auto s = text_of(v)) {
        const auto t = trim(*s);
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
        if (ec != std::errc() || end != t.data() + t.size())
            return std::nullopt;
    }
    if (n < 1 || n > 600000)
        return std::nullopt;
    return std::chrono::milliseconds(n);
}

} // namespace

boost::system::error_code read_fleet_section(fleet_settings& out, const boost::json::value& v, const std::string& path,
                                             std::string& bad_path)
{
    if (!v.is_object()) {
        bad_path = path;
        return error::config_invalid_value;
    }
    const std::pair<const char*, std::string fleet_settings::*> strings[] = {
        {"RedisUrl", &fleet_settings::redis_url}, {"Username", &fleet_settings::username},
        {"KeyPrefix", &fleet_settings::key_prefix}, {"KeyFile", &fleet_settings::key_file},
        {"CaFile", &fleet_settings::ca_file}};
    const std::pair<const char*, std::chrono::milliseconds fleet_settings::*> durations[] = {
        {"ConnectTimeoutMs", &fleet_settings::connect_timeout}, {"CommandTimeoutMs", &fleet_settings::command_timeout},
        {"LockTtlMs", &fleet_settings::lock_ttl}, {"MaxWaitMs", &fleet_settings::max_wait}};
    for (const auto& entry : v.get_object()) {
        const std::string_view key = entry.key();
        const boost::json::value& value = entry.value();
        bad_path = path + ":" + std::string(key); // unknown keys: as written
        bool known = false, ok = true;
        auto is = [&](const char* name) {
            if (!iequals(key, name))
                return false;
            known = true;
            bad_path = path + ":" + name; // known keys: in their own spelling
            return true;
        };
        for (const auto& [name, member] : strings)
            if (is(name)) {
                auto s = text_of(value);
                ok = s.has_value();
                if (s)
                    out.*member = *s;
            }
        for (const auto& [name, member] : durations)
            if (is(name)) {
                auto d = millis_of(value);
                ok = d.has_value();
                if (d)
                    out.*member = *d;
            }
        if (is("Password") || is("Keys")) {
            auto s = text_of(value);
            ok = s.has_value();
            if (s)
                (iequals(key, "Password") ? out.password : out.keys) = secret(std::move(*s));
        } else if (is("ShareRefreshTokens")) {
            auto b = flag_of(value);
            ok = b.has_value();
            if (b)
                out.share_refresh_tokens = *b;
        }
        if (!known || !ok)
            return error::config_invalid_value;
    }
    bad_path.clear();
    return {};
}

} // namespace tetrapak::detail
