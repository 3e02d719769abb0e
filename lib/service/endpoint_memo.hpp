// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_SERVICE_ENDPOINT_MEMO_HPP
#define TETRAPAK_LIB_SERVICE_ENDPOINT_MEMO_HPP

#include <tetrapak/config.hpp>
#include <tetrapak/protocol.hpp>

#include <memory>
#include <mutex>
#include <string>

namespace tetrapak::detail {

/// The token endpoint, parsed once for as long as calls use the same URL (a
/// Boost.URL parse per request was measurable on the fetch path). Thread-safe.
class endpoint_memo {
public:
    /// Null when the URL does not parse: build_token_request reports why.
    std::shared_ptr<const endpoint> get(const auth_config& cfg)
    {
        std::lock_guard lock(mtx_);
        if (!last_ || url_ != cfg.token_endpoint || http_ != cfg.allow_insecure_http_on_loopback) {
            diagnostics ignored;
            auto ep = parse_endpoint(cfg.token_endpoint, cfg.allow_insecure_http_on_loopback, ignored);
            if (!ep)
                return nullptr;
            last_ = std::make_shared<const endpoint>(std::move(*ep));
            url_ = cfg.token_endpoint;
            http_ = cfg.allow_insecure_http_on_loopback;
        }
        return last_;
    }

private:
    std::mutex mtx_;
    std::shared_ptr<const endpoint> last_;
    std::string url_;
    bool http_ = false;
};

} // namespace tetrapak::detail

#endif
