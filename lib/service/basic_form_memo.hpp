// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_SERVICE_BASIC_FORM_MEMO_HPP
#define TETRAPAK_LIB_SERVICE_BASIC_FORM_MEMO_HPP

#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace tetrapak::detail {

/// Which client_secret_basic form a token endpoint accepted from a client
/// (basic_credentials_encoding::automatic), per token endpoint URL and client
/// id, for the service's lifetime: later fetches and renewals send it first
/// (as Go's x/oauth2 remembers its auth style per token URL). Only the raw
/// form is recorded, the RFC 6749 form being the default. Thread-safe and
/// small: when `max_entries` are recorded it starts over, which costs at most
/// one extra request per endpoint and client.
class basic_form_memo {
public:
    static constexpr std::size_t max_entries = 256;

    /// The raw form worked last time for this endpoint and client.
    bool raw_works(std::string_view token_endpoint, std::string_view client_id) const
    {
        std::lock_guard lock(mtx_);
        return !raw_.empty() && raw_.count(key_of(token_endpoint, client_id)) != 0;
    }

    /// Records the form that worked (`raw`: the raw one, else RFC 6749).
    void remember(std::string_view token_endpoint, std::string_view client_id, bool raw)
    {
        auto key = key_of(token_endpoint, client_id);
        std::lock_guard lock(mtx_);
        if (!raw) {
            raw_.erase(key);
            return;
        }
        if (raw_.size() >= max_entries)
            raw_.clear();
        raw_.insert(std::move(key));
    }

    std::size_t size() const
    {
        std::lock_guard lock(mtx_);
        return raw_.size();
    }

private:
    // A newline cannot occur in either part: build_token_request refuses it.
    static std::string key_of(std::string_view token_endpoint, std::string_view client_id)
    {
        std::string key(token_endpoint);
        key += '\n';
        key += client_id;
        return key;
    }

    mutable std::mutex mtx_;
    std::set<std::string, std::less<>> raw_;
};

} // namespace tetrapak::detail

#endif
