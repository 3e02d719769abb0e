// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_SECRET_HPP
#define TETRAPAK_SECRET_HPP

/// \file
/// `secret`: a string that is never printed (client secrets, passwords, keys).

#include <iosfwd>
#include <string>
#include <string_view>

namespace tetrapak {

/// A string that is never printed: `operator<<` writes "<redacted>".
class secret {
public:
    /// The empty secret.
    secret() = default;
    /// Holds `value` (implicit: a string can be assigned to a secret field).
    secret(std::string value) : value_(std::move(value)) {}
    /// Holds a copy of `value`, which must not be null.
    secret(const char* value) : value_(value) {}
    /// The secret itself; the only way to read it.
    std::string_view reveal() const noexcept { return value_; }
    /// True when the secret is the empty string.
    bool empty() const noexcept { return value_.empty(); }
    /// Compares the values (not in constant time).
    friend bool operator==(const secret&, const secret&) = default;
    /// Writes "<redacted>", or "<empty>" for an empty secret; never the value.
    friend std::ostream& operator<<(std::ostream& os, const secret& s);

private:
    std::string value_;
};

} // namespace tetrapak

#endif
