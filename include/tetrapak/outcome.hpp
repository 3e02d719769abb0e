// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_OUTCOME_HPP
#define TETRAPAK_OUTCOME_HPP

/// \file
/// `outcome<T>`, the SDK's `Outcome<T>`: a value, or an error code with
/// the server's diagnostics. It is `boost::system::result<T, failure>`, so
/// everything `result` offers (`has_value`, `operator*`, `value()`, `error()`,
/// monadic helpers) applies; `value()` on a failure throws
/// `error_with_diagnostics`.

#include <tetrapak/diagnostics.hpp>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <boost/system/system_error.hpp>

#include <iosfwd>

namespace tetrapak {

/// Why an operation failed: the code and what the server said.
struct failure {
    boost::system::error_code code;     ///< a tetrapak::error, a tetrapak::oauth_errc or a transport error
    tetrapak::diagnostics diagnostics; ///< what the server said, and this library's detail

    /// Equal when code and diagnostics are equal.
    friend bool operator==(const failure&, const failure&) = default;
    /// Prints the code's category, value and message, then the diagnostics.
    friend std::ostream& operator<<(std::ostream& os, const failure& f);
};

/// Exception carrying the error code and the server's diagnostics.
/// `what()` holds the diagnostics (server text quoted) followed by the code's message.
class error_with_diagnostics : public boost::system::system_error {
public:
    /// `ec` becomes code(); `diag` is kept for get_diagnostics().
    error_with_diagnostics(boost::system::error_code ec, tetrapak::diagnostics diag);
    /// What the server said (and this library's detail) when the operation failed.
    const tetrapak::diagnostics& get_diagnostics() const noexcept { return diag_; }

private:
    tetrapak::diagnostics diag_;
};

/// Found by ADL when `outcome<T>::value()` is called on a failure.
[[noreturn]] void throw_exception_from_error(const failure& f, const boost::source_location& loc);

/// A `T`, or the failure that prevented it: `boost::system::result<T, failure>`.
template <class T>
using outcome = boost::system::result<T, failure>;

} // namespace tetrapak

#endif
