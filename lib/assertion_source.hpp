// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_ASSERTION_SOURCE_HPP
#define TETRAPAK_LIB_ASSERTION_SOURCE_HPP

// Where the JWT of an RFC 7523 grant or client assertion comes from when this
// process does not sign it with its own key: a file the platform rotates
// (workload identity) or the application's callback. Also the signing of a
// jwt_bearer assertion whose subject differs from the client.

#include <tetrapak/config.hpp>
#include <tetrapak/diagnostics.hpp>

#include <boost/system/result.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace tetrapak {
class signing_key;
}

namespace tetrapak::detail {

/// An assertion closer than this to its `exp` is never sent: it could expire
/// on its way to the server.
inline constexpr std::chrono::seconds assertion_send_margin{5};

/// A remembered file's copy is read again when its `exp` is this close, even
/// if the file looks unchanged (the platform rotates it before expiry, and a
/// rewrite may keep size and modification time at the file system's granularity).
inline constexpr std::chrono::seconds assertion_reread_window{60};

/// The JWT for one token request from `src` (a file, else the callback).
///
/// A file is remembered process-wide by path with its identity (device,
/// inode, size, modification time in ns) and costs one stat() per call while
/// it is unchanged and its copy is not within assertion_reread_window of its
/// `exp`. Surrounding white space is dropped.
///
/// Errors: error::client_assertion_unavailable when the file is missing,
/// unreadable, empty or not a JWS compact JWT, or the callback threw or
/// returned none; error::client_assertion_expired when the JWT's `exp` is at
/// most assertion_send_margin after `now`. diag.client_message() names the
/// file or the callback after `role` and says why, never quoting the content
/// ("client assertion file /var/run/secrets/token: not found (ENOENT)").
/// A JWT without `exp` is accepted (the server decides).
boost::system::result<std::string> read_external_assertion(const external_assertion& src,
                                                           std::chrono::system_clock::time_point now,
                                                           diagnostics& diag,
                                                           std::string_view role = "client assertion");

/// The claims of a jwt_bearer grant assertion (RFC 7523 §3) signed by this process.
struct grant_assertion_claims {
    std::string_view issuer;   ///< iss: the client id
    std::string_view subject;  ///< sub: whom the token is for
    std::string_view audience; ///< aud: the token endpoint URL
    std::chrono::system_clock::time_point now;
    std::chrono::seconds lifetime{60};
};

/// A compact JWS of `c` signed with `key`, with a fresh random jti.
boost::system::result<std::string> sign_grant_assertion(const signing_key& key, const grant_assertion_claims& c);

} // namespace tetrapak::detail

#endif
