#include "metrics/storage/storage.h"

#include <bit>

namespace sightline::metrics {

double StaleNaN() { return std::bit_cast<double>(kStaleNaNBits); }

}  // namespace sightline::metrics
