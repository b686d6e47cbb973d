// Used when the TraceQL engine library is not part of the build: the
// streaming querier is not registered, so its calls answer UNIMPLEMENTED.
#include "traces/api/streaming_querier.h"

namespace sightline::traces::api {

struct StreamingQuerier::Impl {};

StreamingQuerier::StreamingQuerier(store::TraceStore*, StreamingQuerierOptions)
    : impl_(std::make_unique<Impl>()) {}

StreamingQuerier::~StreamingQuerier() = default;

void StreamingQuerier::Register(net::GrpcServer&) {}

}  // namespace sightline::traces::api
