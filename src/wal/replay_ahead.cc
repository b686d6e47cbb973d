#include "wal/replay_ahead.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace sightline::wal {

Status ReplayAhead(Wal* wal, const ReplayAheadOptions& options, const RecordBatchFn& fn) {
  const size_t batch_bytes = std::max<size_t>(1, options.batch_bytes);
  const size_t max_ahead = std::max<size_t>(1, options.max_batches_ahead);

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<RecordBatch>> ready;  // guarded by mu
  bool reader_done = false;                        // guarded by mu
  bool stop = false;                               // guarded by mu: fn failed
  Status reader_status;                            // set before reader_done

  // Hands a full batch over; false if the consumer stopped.
  auto publish = [&](std::shared_ptr<RecordBatch> b) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return stop || ready.size() < max_ahead; });
    if (stop) return false;
    ready.push_back(std::move(b));
    cv.notify_all();
    return true;
  };

  std::thread reader([&] {
    auto cur = std::make_shared<RecordBatch>();
    Status st = wal->Replay([&](std::string_view rec, WalPosition pos) -> Status {
      cur->Add(rec, pos);
      if (cur->bytes() < batch_bytes) return Status::Ok();
      if (!publish(std::move(cur))) return CancelledError("WAL replay stopped by its consumer");
      cur = std::make_shared<RecordBatch>();
      return Status::Ok();
    });
    // The records read before an error are delivered too, as Replay does.
    if (cur != nullptr && !cur->empty()) (void)publish(std::move(cur));
    std::lock_guard<std::mutex> l(mu);
    reader_status = std::move(st);
    reader_done = true;
    cv.notify_all();
  });

  Status result;
  for (;;) {
    std::shared_ptr<RecordBatch> b;
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return reader_done || !ready.empty(); });
      if (ready.empty()) {
        result = reader_status;
        break;
      }
      b = std::move(ready.front());
      ready.pop_front();
      cv.notify_all();
    }
    if (Status s = fn(std::move(b)); !s.ok()) {
      std::lock_guard<std::mutex> l(mu);
      stop = true;
      ready.clear();
      cv.notify_all();
      result = std::move(s);
      break;
    }
  }
  reader.join();
  return result;
}

}  // namespace sightline::wal
