// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "shared_entry.hpp"

#include "../detail/sha256.hpp"

#include <tetrapak/error.hpp>

#include <boost/algorithm/hex.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <iterator>

namespace tetrapak::detail {
namespace json = boost::json;
using access = diagnostics_access;

namespace {
constexpr int format_version = 1;
constexpr std::size_t key_bytes = 32 + 32 + 1;

std::int64_t ms_of(sys_clock::time_point t)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

sys_clock::time_point time_of(std::int64_t ms)
{
    return sys_clock::time_point(std::chrono::duration_cast<sys_clock::duration>(std::chrono::milliseconds(ms)));
}

/// Our hex is lower case only: one spelling per digest, so names compare as bytes.
bool is_lower_hex(std::string_view s) noexcept
{
    return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string key_bytes_of(const cache_key& k)
{
    std::string b(reinterpret_cast<const char*>(k.config.data()), k.config.size());
    b.append(reinterpret_cast<const char*>(k.subject.data()), k.subject.size());
    b += static_cast<char>(k.grant);
    return b;
}

/// The object of `text` when it is a JSON object of this format's version.
const json::object* versioned_object(const json::value& v)
{
    const auto* o = v.if_object();
    if (!o)
        return nullptr;
    const auto* ver = o->if_contains("v");
    return ver && ver->is_int64() && ver->get_int64() == format_version ? o : nullptr;
}

std::optional<std::int64_t> int_at(const json::object& o, std::string_view k)
{
    const auto* v = o.if_contains(k);
    if (v && v->is_int64())
        return v->get_int64();
    return std::nullopt;
}

std::optional<std::string> string_at(const json::object& o, std::string_view k)
{
    const auto* v = o.if_contains(k);
    if (v && v->is_string())
        return std::string(v->get_string());
    return std::nullopt;
}

const boost::system::error_category* category_named(std::string_view name)
{
    if (name == client_category().name())
        return &client_category();
    if (name == oauth_category().name())
        return &oauth_category();
    return nullptr;
}

json::value parse_quietly(std::string_view text, json::storage_ptr sp)
{
    boost::system::error_code ec;
    auto v = json::parse(text, ec, std::move(sp));
    return ec ? json::value() : v;
}
} // namespace

std::string lower_hex(std::string_view bytes)
{
    std::string out;
    out.reserve(2 * bytes.size());
    boost::algorithm::hex_lower(bytes.begin(), bytes.end(), std::back_inserter(out));
    return out;
}

fleet_names names_for(std::string_view prefix, const cache_key& key)
{
    // A service asks for the names of the same few keys again and again.
    thread_local struct {
        bool set = false;
        std::string prefix;
        cache_key key;
        fleet_names names;
    } last;
    if (last.set && last.key == key && last.prefix == prefix)
        return last.names;
    const auto d = sha256_of(key_bytes_of(key));
    fleet_names n;
    n.digest = lower_hex({reinterpret_cast<const char*>(d.data()), d.size()});
    n.token = std::string(prefix) + "t:" + n.digest;
    n.retry_after = n.token + ":ra";
    n.lock = n.token + ":lock";
    last.set = true;
    last.prefix = prefix;
    last.key = key;
    last.names = n;
    return n;
}

std::string channel_for(std::string_view prefix) { return std::string(prefix) + "events"; }

std::string key_to_hex(const cache_key& key)
{
    return lower_hex(key_bytes_of(key));
}

std::optional<cache_key> key_from_hex(std::string_view h)
{
    if (h.size() != 2 * key_bytes || !is_lower_hex(h))
        return std::nullopt;
    std::string raw;
    boost::algorithm::unhex(h.begin(), h.end(), std::back_inserter(raw));
    const auto* b = reinterpret_cast<const unsigned char*>(raw.data());
    cache_key k;
    std::copy(b, b + 32, k.config.begin());
    std::copy(b + 32, b + 64, k.subject.begin());
    if (b[64] > static_cast<unsigned char>(grant_type::jwt_bearer))
        return std::nullopt;
    k.grant = static_cast<grant_type>(b[64]);
    return k;
}

std::string encode_token(const shared_token& t)
{
    json::object o;
    o["v"] = format_version;
    o["value"] = t.token.value();
    o["type"] = t.token.token_type();
    if (auto e = t.token.expires_at())
        o["exp"] = ms_of(*e);
    json::array scope;
    for (const auto& s : t.token.scope())
        scope.emplace_back(s);
    o["scope"] = std::move(scope);
    if (!t.token.issued_token_type().empty())
        o["itt"] = t.token.issued_token_type();
    o["iat"] = ms_of(t.token.issued_at());
    o["expires"] = ms_of(t.times.expires);
    o["usable_until"] = ms_of(t.times.usable_until);
    o["refresh_at"] = ms_of(t.times.refresh_at);
    if (!t.refresh_token.empty())
        o["rt"] = t.refresh_token;
    return json::serialize(o);
}

std::optional<shared_token> decode_token(std::string_view text, sys_clock::time_point now)
{
    // Every lookup decodes one: its JSON lives on the stack, not the heap.
    unsigned char buffer[4096];
    json::monotonic_resource mr(buffer, sizeof buffer);
    const auto v = parse_quietly(text, &mr);
    const auto* o = versioned_object(v);
    if (!o)
        return std::nullopt;
    auto value = string_at(*o, "value");
    auto type = string_at(*o, "type");
    auto iat = int_at(*o, "iat");
    auto expires = int_at(*o, "expires"), usable = int_at(*o, "usable_until"), refresh = int_at(*o, "refresh_at");
    const auto* scope = o->if_contains("scope");
    if (!value || value->empty() || !type || !iat || !expires || !usable || !refresh || !scope || !scope->is_array())
        return std::nullopt;
    actor_token::fields f;
    f.value = std::move(*value);
    f.token_type = std::move(*type);
    if (auto e = int_at(*o, "exp"))
        f.expires_at = time_of(*e);
    for (const auto& s : scope->get_array()) {
        if (!s.is_string())
            return std::nullopt;
        f.scope.emplace_back(s.get_string());
    }
    f.issued_token_type = string_at(*o, "itt").value_or("");
    f.issued_at = time_of(*iat);
    shared_token t{actor_token(std::move(f)), {time_of(*expires), time_of(*usable), time_of(*refresh)},
                   string_at(*o, "rt").value_or("")};
    if (t.times.usable_until <= now)
        return std::nullopt;
    return t;
}

std::string encode_failure(const shared_failure& f)
{
    const auto& d = f.failure.diag;
    json::object o;
    o["v"] = format_version;
    o["cat"] = f.failure.ec.category().name();
    o["code"] = f.failure.ec.value();
    o["until"] = ms_of(f.until);
    o["error"] = d.error();
    o["error_description"] = d.error_description();
    o["client_message"] = d.client_message();
    o["http_status"] = d.http_status();
    return json::serialize(o);
}

std::optional<shared_failure> decode_failure(std::string_view text, sys_clock::time_point now)
{
    const auto v = parse_quietly(text, {});
    const auto* o = versioned_object(v);
    if (!o)
        return std::nullopt;
    auto cat = string_at(*o, "cat");
    auto code = int_at(*o, "code"), until = int_at(*o, "until"), status = int_at(*o, "http_status");
    const auto* category = cat ? category_named(*cat) : nullptr;
    if (!category || !code || !until || !status || time_of(*until) <= now || *code < 0 || *code > 0xffff ||
        *status < 0 || *status > 999)
        return std::nullopt;
    shared_failure f;
    f.failure.ec = boost::system::error_code(static_cast<int>(*code), *category);
    f.until = time_of(*until);
    auto& d = f.failure.diag;
    access::error(d) = string_at(*o, "error").value_or("");
    access::error_description(d) = string_at(*o, "error_description").value_or("");
    access::client_message(d) = string_at(*o, "client_message").value_or("");
    access::http_status(d) = static_cast<unsigned>(*status);
    return f;
}

std::string ready_message(std::string_view digest) { return "ready " + std::string(digest); }

std::string drop_message(std::string_view instance, const cache_key& key)
{
    return "drop " + std::string(instance) + ' ' + key_to_hex(key);
}

std::optional<fleet_message> parse_message(std::string_view text)
{
    fleet_message m;
    if (text.starts_with("ready ")) {
        m.digest = std::string(text.substr(6));
        return m.digest.size() == 64 && is_lower_hex(m.digest) ? std::optional(m) : std::nullopt;
    }
    if (!text.starts_with("drop "))
        return std::nullopt;
    text.remove_prefix(5);
    const auto space = text.find(' ');
    if (space == std::string_view::npos || space == 0)
        return std::nullopt;
    m.what = fleet_message::kind::drop;
    m.instance = std::string(text.substr(0, space));
    m.key = key_from_hex(text.substr(space + 1));
    return m.key ? std::optional(m) : std::nullopt;
}

} // namespace tetrapak::detail
