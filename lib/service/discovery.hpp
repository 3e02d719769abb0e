// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_SERVICE_DISCOVERY_HPP
#define TETRAPAK_LIB_SERVICE_DISCOVERY_HPP

#include "../flight/waiter.hpp"

#include <tetrapak/config.hpp>
#include <tetrapak/protocol.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace tetrapak::detail {

struct service_impl;
class discovery_job;

/// Discovery documents by URL, each kept for `discovery_ttl`, and the fetch in
/// flight for each. Its own mutex: token calls never wait on it.
class discovery_cache {
public:
    /// The metadata for `cfg.discovery_document_url`: cached, or from the one
    /// fetch in flight for it (joined or started). Completes `handler` through
    /// its executor, never inline.
    void get(const std::shared_ptr<service_impl>& svc, const std::shared_ptr<const auth_config>& cfg,
             diagnostics* diag, handler_of<server_metadata> handler);

    /// Keeps a fetched document until `expires`.
    void store(const std::string& url, const server_metadata& md, std::chrono::steady_clock::time_point expires);

private:
    struct entry {
        std::optional<server_metadata> metadata;
        std::chrono::steady_clock::time_point expires{};
        std::weak_ptr<discovery_job> job;
    };
    std::mutex mtx_;
    std::map<std::string, entry, std::less<>> entries_;
};

} // namespace tetrapak::detail

#endif
