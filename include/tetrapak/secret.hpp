// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_SECRET_HPP
#define TETRAPAK_SECRET_HPP

#include <iosfwd>
#include <string>
#include <string_view>

namespace tetrapak {

/// A string that is never printed: `operator<<` writes "<redacted>".
class secret {
public:
    secret() = default;
    secret(std::string value) : value_(std::move(value)) {}
    secret(const char* value) : value_(value) {}
    /// The secret itself; the only way to read it.
    std::string_view reveal() const noexcept { return value_; }
    bool empty() const noexcept { return value_.empty(); }
    friend bool operator==(const secret&, const secret&) = default;
    friend std::ostream& operator<<(std::ostream& os, const secret& s);

private:
    std::string value_;
};

} // namespace tetrapak

#endif
