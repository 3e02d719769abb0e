// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "strand.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

namespace tetrapak::detail {

boost::asio::any_io_executor make_strand_for(const boost::asio::any_io_executor& ex)
{
    if (auto* io = ex.target<boost::asio::io_context::executor_type>())
        return boost::asio::make_strand(*io);
    return boost::asio::make_strand(ex);
}

} // namespace tetrapak::detail
