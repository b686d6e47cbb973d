#include "io/storage_config.h"

#include "io/filesystem_object_store.h"
#include "io/instrumented_object_store.h"
#include "io/memory_object_store.h"
#include "io/s3_object_store.h"

namespace sightline::io {

Result<std::unique_ptr<ObjectStore>> OpenObjectStore(const StorageConfig& config) {
  std::unique_ptr<ObjectStore> store;
  std::string bucket_label;
  if (config.backend == "filesystem") {
    if (config.filesystem_path.empty()) {
      return InvalidArgumentError("storage: backend filesystem needs filesystem_path");
    }
    SL_ASSIGN_OR_RETURN(store, FilesystemObjectStore::Open(config.filesystem_path));
    bucket_label = config.filesystem_path;
  } else if (config.backend == "s3") {
    SL_ASSIGN_OR_RETURN(store, S3ObjectStore::Open(config.s3));
    bucket_label = config.s3.bucket;
  } else if (config.backend == "memory") {
    store = std::make_unique<MemoryObjectStore>();
    bucket_label = "memory";
  } else {
    return InvalidArgumentError("storage: unknown backend \"" + config.backend +
                                "\" (want filesystem, s3 or memory)");
  }
  return std::unique_ptr<ObjectStore>(
      std::make_unique<InstrumentedObjectStore>(std::move(store), bucket_label));
}

}  // namespace sightline::io
