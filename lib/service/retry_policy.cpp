// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "retry_policy.hpp"

#include <tetrapak/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <functional>
#include <random>
#include <thread>

namespace tetrapak::detail {

bool is_retryable(boost::system::error_code ec, const diagnostics& diag) noexcept
{
    namespace aerr = boost::asio::error;
    if (!ec || ec == aerr::operation_aborted)
        return false;
    const auto& cat = ec.category();
    if (cat == oauth_category()) {
        switch (static_cast<oauth_errc>(ec.value())) {
        case oauth_errc::server_error:
        case oauth_errc::temporarily_unavailable: return true;
        case oauth_errc::other: return diag.http_status() >= 500 || diag.http_status() == 429;
        default: return false; // invalid_client, invalid_grant, invalid_request, ...: a repeat cannot help
        }
    }
    if (cat == client_category()) {
        switch (static_cast<error>(ec.value())) {
        case error::connect_timeout:
        case error::handshake_timeout:
        case error::request_timeout:
        case error::response_header_timeout:
        case error::response_body_timeout:
        case error::too_many_requests:
        case error::server_unavailable:
        case error::too_many_open_files:
        case error::proxy_unreachable:
        case error::proxy_timeout: return true;
        case error::proxy_refused: return diag.http_status() >= 500; // 502/503/504: the proxy's way to the server
        default: return false;
        }
    }
    if (ec == boost::beast::http::error::end_of_stream || ec == boost::beast::http::error::partial_message)
        return true;
    if (cat == make_error_code(boost::beast::http::error::end_of_stream).category()) // a malformed HTTP answer: not transient
        return false;
    if (ec == boost::asio::ssl::error::stream_truncated)
        return true;
    if (cat == boost::asio::error::get_ssl_category()) // handshake failures: configuration, not luck
        return false;
    if (ec == aerr::host_not_found || ec == aerr::service_not_found || ec == aerr::no_data)
        return false;
    if (cat == aerr::get_misc_category())
        return ec == aerr::eof;
    return cat == boost::system::system_category() || cat == aerr::get_netdb_category() ||
           cat == aerr::get_addrinfo_category();
}

std::optional<std::chrono::milliseconds> retry_delay(const retry_settings& s, int attempts_done,
                                                     boost::system::error_code ec, const diagnostics& diag,
                                                     double random01) noexcept
{
    using std::chrono::milliseconds;
    if (attempts_done >= s.max_attempts || !is_retryable(ec, diag))
        return std::nullopt;
    const milliseconds cap = std::max(s.max_delay, milliseconds(0));
    milliseconds backoff = std::max(s.base_delay, milliseconds(0));
    for (int i = 1; i < attempts_done && backoff < cap; ++i)
        backoff *= 2;
    backoff = std::min(backoff, cap);
    auto delay = milliseconds(static_cast<milliseconds::rep>(static_cast<double>(backoff.count()) * std::clamp(random01, 0.0, 1.0)));
    if (auto ra = diag.retry_after()) {
        if (*ra > cap)
            return std::nullopt; // longer than we wait: fail now, remembered per key
        delay = std::max<milliseconds>(delay, *ra);
    }
    return delay;
}

double random_unit() noexcept
{
    // Seeded per thread from the clock and the thread: jitter needs spread, not secrecy.
    thread_local std::mt19937_64 gen{static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                                     std::hash<std::thread::id>{}(std::this_thread::get_id())};
    return std::uniform_real_distribution<double>(0.0, 1.0)(gen) * 0.999999;
}

} // namespace tetrapak::detail
